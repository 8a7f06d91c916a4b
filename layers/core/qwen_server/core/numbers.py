"""Reading a number from text that came from outside: a query string, a form field, a header.

`str.isdigit()` is true for `²`, `٣` and other Unicode digits that `int()` refuses (a ValueError, once a
500 on `?limit=²`), so every such check goes through `whole_number`, which takes ASCII digits only.
"""

from __future__ import annotations


def whole_number(text: str | None, *, signed: bool = False) -> int | None:
    """The integer `text` spells in ASCII digits (surrounding spaces allowed; a leading `-` when `signed`),
    else None."""
    if text is None:
        return None
    value = text.strip()
    digits = value[1:] if signed and value.startswith("-") else value
    return int(value) if digits.isascii() and digits.isdigit() else None
