"""`MODEL_ALIASES`: a JSON object of aliases, refused with the variable named when it is anything else."""

from __future__ import annotations

import pytest

from qwen_server.config import ConfigError
from qwen_server.core.catalog import ModelCatalog


def test_env_aliases_extend_the_table() -> None:
    catalog = ModelCatalog('{"mine": "qwen3-coder-plus", "deep": {"model": "qwen3-max", "thinking": true}}')
    assert catalog.resolve("mine").upstream == "qwen3-coder-plus"
    deep = catalog.resolve("deep")
    assert (deep.upstream, deep.thinking) == ("qwen3-max", True)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("{'mine': 'qwen3-max'}", "not valid JSON"),
        ('["qwen3-max"]', "must be a JSON object"),
        ('{"mine": 3}', "MODEL_ALIASES['mine']"),
        ('{"mine": {"thinking": true}}', "MODEL_ALIASES['mine']"),
    ],
)
def test_bad_aliases_name_the_variable(value: str, said: str) -> None:
    with pytest.raises(ConfigError) as info:
        ModelCatalog(value)
    assert "MODEL_ALIASES" in str(info.value) and said in str(info.value)
