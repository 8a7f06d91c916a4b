"""Who gets a class's free slots: FIFO by ticket, except that a tenant already holding its fair share waits
while tenants below theirs are queued.

Pure functions over what the store shows (the live lease holders and the head of the queue), so every
instance that looks at the same state reaches the same decision, and tests need no servers.

The rule: fair share = limit / number of active tenants (holding a slot or queued in the head window).
The free slots go first, oldest ticket first, to tickets whose tenant holds less than its share (counting
the slots granted in this same round); slots left over go to the remaining tickets in FIFO order, so no
slot idles while anyone waits (work-conserving). With one tenant this is plain FIFO.

Identities: a ticket doubles as the lease holder name once granted, and carries its tenant after the first
dot: `<instance>-<n>.<tenant>`. Instance ids are sanitised to contain no dot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence


def make_id(instance: str, n: int, tenant: str) -> str:
    return f"{instance}-{n:x}.{tenant}"


def clean_instance(instance: str) -> str:
    """Instance ids may not contain the tenant separator."""
    return instance.replace(".", "_") or "instance"


def tenant_of(ident: str) -> str:
    return ident.split(".", 1)[1] if "." in ident else ""


def instance_of(ident: str) -> str:
    return ident.split(".", 1)[0].rsplit("-", 1)[0]


def grant(head: Sequence[str], holders: Sequence[str], limit: int) -> list[str]:
    """Tickets of `head` (oldest first) that should take the free slots now, in priority order."""
    free = limit - len(holders)
    if free <= 0 or not head:
        return []
    return order(head, holders, limit)[:free]


def order(head: Sequence[str], holders: Sequence[str], limit: int) -> list[str]:
    """Every ticket of `head` in priority order: first, oldest first, those whose tenant holds less than its
    share of `limit` (counting what goes before them), then the rest oldest first."""
    if not head:
        return []
    held = Counter(tenant_of(h) for h in holders)
    active = set(held) | {tenant_of(t) for t in head}
    share = limit / len(active)
    first: list[str] = []
    rest: list[str] = []
    for ticket in head:
        tenant = tenant_of(ticket)
        if held[tenant] < share:
            first.append(ticket)
            held[tenant] += 1
        else:
            rest.append(ticket)
    return first + rest
