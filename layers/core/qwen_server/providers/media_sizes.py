"""Sizes: OpenAI's `WxH` (and `auto`) mapped to the nearest of the web's ratios, and each ratio's DashScope
`W*H`. Pure."""

from __future__ import annotations

import math
import re

from qwen_server.core.errors import InvalidRequest

RATIOS: dict[str, float] = {"1:1": 1.0, "16:9": 16 / 9, "9:16": 9 / 16, "4:3": 4 / 3, "3:4": 3 / 4}
DASHSCOPE_IMAGE = {
    "1:1": "1024*1024",
    "16:9": "1280*720",
    "9:16": "720*1280",
    "4:3": "1024*768",
    "3:4": "768*1024",
}
DASHSCOPE_QWEN_IMAGE = {
    "1:1": "1328*1328",
    "16:9": "1664*928",
    "9:16": "928*1664",
    "4:3": "1472*1140",
    "3:4": "1140*1472",
}
DASHSCOPE_VIDEO = {
    "1:1": "960*960",
    "16:9": "1280*720",
    "9:16": "720*1280",
    "4:3": "1088*832",
    "3:4": "832*1088",
}
OPENAI_OF_RATIO = {
    "1:1": "1024x1024",
    "16:9": "1792x1024",
    "9:16": "1024x1792",
    "4:3": "1536x1024",
    "3:4": "1024x1536",
}
_WXH = re.compile(r"^(\d{2,5})\s*[xX*]\s*(\d{2,5})$")


def ratio_of(size: str | None, *, param: str = "size") -> str:
    """The web ratio for a requested size: a ratio as is, `auto` / absent as 1:1, `WxH` to the nearest ratio
    by aspect (compared on a log scale, so 2:1 and 1:2 are equally far from 1:1)."""
    if size is None or size == "auto":
        return "1:1"
    if size in RATIOS:
        return size
    match = _WXH.match(size.strip())
    if match is None or int(match.group(2)) == 0 or int(match.group(1)) == 0:
        raise InvalidRequest(
            f"size {size!r} is neither WIDTHxHEIGHT, `auto`, nor one of {', '.join(RATIOS)}", param=param
        )
    aspect = math.log(int(match.group(1)) / int(match.group(2)))
    return min(RATIOS, key=lambda r: abs(math.log(RATIOS[r]) - aspect))


def dashscope_image_size(ratio: str, model: str) -> str:
    table = DASHSCOPE_QWEN_IMAGE if model.startswith("qwen-image") else DASHSCOPE_IMAGE
    return table[ratio]
