"""The gateway's catalogue (`shared/models.json`) and the emulator's model list agree: every model the
catalogue names is served by the emulator with the same capabilities, every family member an alias may route
to is one of them, and the emulator serves nothing the catalogue does not describe. The gateway routes aliases
and words its refusals from the catalogue, so a disagreement would send a demo request to a model that then
refuses it, or suggest a model nobody serves."""

from __future__ import annotations

from typing import Any

from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.shared_data import load_json
from tests.emulator.emulator_harness import WebClient

COMPARED = frozenset({"thinking", "vision", "video", "audio", "document"})


def _served(client: WebClient) -> dict[str, frozenset[str]]:
    """Model id -> capabilities, as the gateway reads them from the emulator's `/api/models`."""
    data: list[dict[str, Any]] = client.http.get("/api/models", headers=client.auth).json()["data"]
    return {
        m["id"]: frozenset(k for k, v in m["info"]["meta"]["capabilities"].items() if v) & COMPARED for m in data
    }


def test_every_catalogue_model_is_served_with_the_same_capabilities(client: WebClient) -> None:
    served = _served(client)
    table = load_json("models.json")
    listed = {row["id"]: frozenset(row["capabilities"]) for row in table["models"]}
    assert set(listed) == set(served), "the catalogue and the emulator name the same models"
    for model, capabilities in listed.items():
        assert capabilities == served[model], f"{model}: catalogue {sorted(capabilities)}, emulator {sorted(served[model])}"


def test_every_family_member_is_served_and_each_family_can_see_hear_and_think(client: WebClient) -> None:
    served = _served(client)
    catalog = ModelCatalog()
    for family, members in catalog.model_families.items():
        assert set(members) <= set(served), family
        able = frozenset().union(*(served[m] for m in members))
        assert {"vision", "thinking", "document", "audio"} <= able, f"{family} cannot route every request"
    for family in catalog.families.values():  # claude-opus / sonnet / haiku
        assert catalog.members(family)[0] in served
