"""Sizes mapped to the web's ratios, and media model aliases resolved per account kind."""

from __future__ import annotations

import pytest

from qwen_server.core.errors import InvalidRequest, NotFound
from qwen_server.generation.catalog import resolve
from qwen_server.providers.media_sizes import dashscope_image_size, ratio_of


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        (None, "1:1"),
        ("auto", "1:1"),
        ("1024x1024", "1:1"),
        ("1536x1024", "4:3"),  # 1.5 is nearer 4:3 than 16:9 on a log scale
        ("1024x1536", "3:4"),
        ("1792x1024", "16:9"),
        ("1024x1792", "9:16"),
        ("1280x720", "16:9"),
        ("720x1280", "9:16"),
        ("16:9", "16:9"),
        ("1328*1328", "1:1"),
    ],
)
def test_sizes_map_to_the_nearest_web_ratio(size: str | None, ratio: str) -> None:
    assert ratio_of(size) == ratio


@pytest.mark.parametrize("size", ["huge", "0x100", "21:9", "1024", ""])
def test_sizes_that_are_not_sizes_are_refused_naming_the_param(size: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        ratio_of(size)
    assert refused.value.param == "size"


def test_dashscope_sizes_follow_the_model_family() -> None:
    assert dashscope_image_size("16:9", "wanx2.1-t2i-turbo") == "1280*720"
    assert dashscope_image_size("16:9", "qwen-image-plus") == "1664*928"


def test_aliases_resolve_per_account_kind() -> None:
    dalle = resolve("dall-e-3", "image")
    assert dalle.upstream("qwen-web", "qwen3-max") == "qwen3-max"  # the web draws with a chat model
    assert dalle.upstream("dashscope", "qwen3-max") == "wanx2.1-t2i-plus"
    assert dalle.upstream("openai", "qwen3-max") == "dall-e-3"
    assert dalle.upstream("dashscope", "x", edit=True) == "wanx2.1-imageedit"
    sora = resolve(None, "video")
    assert sora.name == "sora-2"
    assert sora.upstream("dashscope", "x") == "wanx2.1-t2v-turbo"
    assert sora.upstream("dashscope", "x", i2v=True) == "wanx2.1-i2v-turbo"
    assert sora.upstream("openai", "x") is None  # no video flow on OpenAI-compatible accounts
    assert resolve(None, "image").name == "wanx2.1-t2i-turbo"


def test_unknown_media_models_are_a_404_naming_the_known_ones() -> None:
    with pytest.raises(NotFound) as unknown:
        resolve("sora-3", "video")
    assert unknown.value.param == "model" and "sora-2" in unknown.value.message
