"""Aliases by family: `gpt-*`, `o*` and `claude-*` names stand for an ordered list of models, and each request
goes to the first member that serves its media and thinking (`media.capability.choose`, run in
`media.prepare`). A name an upstream serves itself is not taken over by a pattern."""

from __future__ import annotations

import pytest

from qwen_server.core.catalog import ModelCatalog
from qwen_server.core.model import ChatRequest, MediaPart, Message, TextPart
from qwen_server.media import capability
from qwen_server.media.fetch import FetchPolicy
from qwen_server.media.prepare import MODEL_CANDIDATES, prepare
from qwen_server.providers.base import Account, ModelInfo
from tests.unit.test_models_directory import VLLM, FakeProvider, directory, web

TABLE = {
    "qwen3-coder-plus": frozenset({"document"}),
    "qwen3-max": frozenset({"thinking", "document"}),
    "qwen3-vl-plus": frozenset({"thinking", "vision", "video", "document"}),
    "qwen3-omni-flash": frozenset({"vision", "audio", "video", "document"}),
}
CODER = ("qwen3-coder-plus", "qwen3-max", "qwen3-vl-plus", "qwen3-omni-flash")


@pytest.mark.parametrize(
    ("name", "head", "thinking"),
    [
        ("gpt-4o", "qwen3-max", None),
        ("gpt-5", "qwen3-max", None),
        ("gpt-4.1-mini", "qwen-plus", None),
        ("gpt-5-nano-2025-08-07", "qwen-plus", None),
        ("o3", "qwen3-max", True),
        ("o4-mini", "qwen-plus", True),
        ("claude-opus-4-1", "qwen3-max", None),
        ("claude-sonnet-4-5", "qwen3-coder-plus", None),
    ],
)
def test_aliases_name_a_family_headed_by_their_usual_model(name: str, head: str, thinking: bool | None) -> None:
    catalog = ModelCatalog()
    resolved = catalog.resolve(name)
    assert catalog.is_alias(name)
    assert (resolved.upstream, resolved.thinking) == (head, thinking)
    assert resolved.candidates[0] == head and len(resolved.candidates) > 1


def test_explicit_names_and_single_model_aliases_have_no_family() -> None:
    catalog = ModelCatalog()
    for name in ("qwen3-max", "qwen3-max-thinking", "qwen-vl", "omni", "gpt"):
        assert catalog.resolve(name).candidates == ()


@pytest.mark.parametrize(
    ("needed", "chosen"),
    [
        (frozenset(), "qwen3-coder-plus"),
        (frozenset({"thinking"}), "qwen3-max"),
        (frozenset({"vision"}), "qwen3-vl-plus"),
        (frozenset({"vision", "thinking"}), "qwen3-vl-plus"),
        (frozenset({"audio"}), "qwen3-omni-flash"),
        (frozenset({"audio", "thinking"}), "qwen3-coder-plus"),  # nobody: the head, whose refusal says why
    ],
)
def test_the_first_member_with_every_needed_capability_serves(needed: frozenset[str], chosen: str) -> None:
    assert capability.choose(CODER, needed, TABLE, lambda _: True) == chosen


def test_a_member_nobody_serves_is_skipped_and_suggestions_name_served_models_only() -> None:
    served = {"qwen3-coder-plus", "qwen3-max", "qwen3-omni-flash"}.__contains__
    assert capability.choose(CODER, frozenset({"vision"}), TABLE, served) == "qwen3-omni-flash"
    image = MediaPart(kind="image", url="https://example.org/a.png")
    with pytest.raises(Exception) as caught:
        capability.check("qwen3-max", [image], TABLE, served)
    assert "models that do: qwen3-omni-flash" in str(caught.value)


class DescribingProvider(FakeProvider):
    """Lists every model of `TABLE` with its capabilities, as the web's model list does."""

    async def list_models(self, account: Account) -> list[ModelInfo]:
        return [ModelInfo(id=m, capabilities=tuple(sorted(c))) for m, c in TABLE.items()]


async def test_prepare_routes_a_family_by_thinking_and_keeps_an_explicit_model() -> None:
    found, _, _ = directory(web(0), provider=DescribingProvider({}))
    request = ChatRequest(model="qwen3-coder-plus", messages=[Message("user", [TextPart("hi")])], thinking=True)
    request.extra[MODEL_CANDIDATES] = CODER
    await prepare(request, found.capabilities, FetchPolicy())
    assert request.model == "qwen3-max", "the coder does not think; the next member does"
    assert MODEL_CANDIDATES not in request.extra
    plain = ChatRequest(model="qwen3-coder-plus", messages=[Message("user", [TextPart("hi")])], thinking=True)
    await prepare(plain, found.capabilities, FetchPolicy())
    assert plain.model == "qwen3-coder-plus", "a model named explicitly is never swapped"


async def test_a_pattern_name_an_upstream_serves_itself_is_not_an_alias() -> None:
    own = Account(id="oa", kind="openai", base_url="http://oa/v1", name="oa", api_key="k", models=("gpt-5",))
    found, _, _ = directory(web(0), VLLM, own)
    resolved = await found.resolved("gpt-5")
    assert (resolved.upstream, resolved.candidates) == ("gpt-5", ())
    assert (await found.resolved("gpt-4.1-nano")).upstream == "qwen-plus"
