"""The model list `/api/models` answers, as data: one row per model.

What each model takes (images, video, audio, documents) and whether it thinks is the emulator's own table, as
the real list is the upstream's; `tests/emulator/test_catalogue_agreement.py` checks that the gateway's
`shared/models.json` says the same of every model both know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

_T2T_TYPES = ("t2t", "search", "artifacts", "web_dev", "deep_research", "t2i", "image_edit", "t2v")


@dataclass(frozen=True, slots=True)
class ModelRow:
    id: str
    name: str
    context: int
    generation: int
    thinking_max: int  # 0: the model has no thinking mode
    takes: frozenset[str] = frozenset({"document"})  # of vision, video, audio, document
    chat_types: tuple[str, ...] = _T2T_TYPES

    @property
    def thinks(self) -> bool:
        return self.thinking_max > 0

    @property
    def vision(self) -> bool:
        return "vision" in self.takes

    def capabilities(self) -> frozenset[str]:
        """What the gateway's catalogue lists for this model."""
        return self.takes | ({"thinking"} if self.thinks else set())


_SEES = frozenset({"vision", "video", "document"})
_HEARS = _SEES | {"audio"}


MODELS: tuple[ModelRow, ...] = (
    ModelRow("qwen3-max", "Qwen3-Max", 262_144, 32_768, 81_920),
    ModelRow("qwen3-max-2025-09-23", "Qwen3-Max-Preview", 262_144, 32_768, 81_920),
    ModelRow(
        "qwen3-coder-plus", "Qwen3-Coder", 1_048_576, 65_536, 0, chat_types=("t2t", "search", "artifacts", "web_dev")
    ),
    ModelRow("qwen-plus", "Qwen-Plus", 131_072, 8_192, 38_912),
    ModelRow("qwen3-vl-plus", "Qwen3-VL-235B-A22B", 262_144, 32_768, 81_920, takes=_SEES),
    ModelRow("qwq-32b", "QwQ-32B", 131_072, 8_192, 38_912, takes=frozenset(), chat_types=("t2t", "search")),
    ModelRow("qwen3.7-plus", "Qwen3.7-Plus", 1_000_000, 65_536, 81_920, takes=_HEARS),
    ModelRow("qwen3-omni-flash", "Qwen3-Omni-Flash", 65_536, 16_384, 0, takes=_HEARS, chat_types=("t2t",)),
)
BY_ID: dict[str, ModelRow] = {m.id: m for m in MODELS}
MIN_THINKING_BUDGET = 1024


def _entry(row: ModelRow) -> dict[str, Any]:
    meta = {
        "description": f"{row.name} (emulated)",
        "profile_image_url": "/static/favicon.png",
        "capabilities": {
            "vision": row.vision,
            "document": "document" in row.takes,
            "video": "video" in row.takes,
            "audio": "audio" in row.takes,
            "citations": True,
            "thinking": row.thinks,
            "thinking_budget": row.thinks,
        },
        "max_context_length": row.context,
        "max_generation_length": row.generation,
        "max_thinking_generation_length": row.thinking_max,
        "min_thinking_generation_length": MIN_THINKING_BUDGET if row.thinks else 0,
        "max_summary_generation_length": 32_768 if row.thinks else 0,
        "chat_type": list(row.chat_types),
        "mcp": [],
        "modality": ["text", "image"] if row.vision else ["text"],
    }
    return {
        "id": row.id,
        "name": row.name,
        "object": "model",
        "owned_by": "qwen",
        "info": {
            "id": row.id,
            "name": row.name,
            "meta": meta,
            "is_active": True,
            "created_at": 1_758_585_600,
        },
    }


MODELS_BODY: bytes = orjson.dumps({"data": [_entry(row) for row in MODELS]})
