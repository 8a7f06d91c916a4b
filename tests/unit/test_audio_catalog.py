"""The audio table's pure decisions: voices, which model a transcription goes to per account kind, and
where DashScope's native API sits beside its OpenAI-compatible one."""

from __future__ import annotations

import pytest

from qwen_server.audio import catalog
from qwen_server.audio.speech import native_base
from qwen_server.audio.transcribe import is_asr_name, pick_model
from qwen_server.core.errors import InvalidRequest
from qwen_server.providers.base import Account


def acct(kind: str, models: tuple[str, ...] | None = None) -> Account:
    return Account(id=f"{kind}-1", kind=kind, base_url="http://x", name=kind, models=models)  # type: ignore[arg-type]


def test_openai_voices_map_to_qwen_voices_and_qwen_names_pass_in_any_case() -> None:
    assert catalog.voice("alloy").qwen == "Cherry" and catalog.voice("alloy").passthrough == "alloy"
    assert catalog.voice("ONYX").qwen == "Marcus"
    assert catalog.voice("serena").qwen == "Serena"
    assert catalog.voice(None).qwen == catalog.table()["speech"]["default_voice"]
    with pytest.raises(InvalidRequest) as caught:
        catalog.voice("robot")
    assert caught.value.param == "voice" and "alloy" in caught.value.message


def test_every_openai_voice_maps_to_a_known_qwen_voice() -> None:
    speech = catalog.table()["speech"]
    assert set(speech["voices"].values()) <= set(speech["qwen_voices"])


def test_transcription_goes_to_the_asr_model_where_a_native_account_serves_it() -> None:
    asr = "qwen3-asr-flash"
    assert is_asr_name("whisper-1") and is_asr_name(asr) and not is_asr_name("qwen3-max")
    assert pick_model(asr, [acct("qwen-web"), acct("dashscope")], ["qwen3-vl-plus"]) == asr
    assert pick_model(
        asr, [acct("openai", ("qwen3-max",)), acct("qwen-web", ("qwen3-vl-plus",))], ["qwen3-vl-plus"]
    ) == ("qwen3-vl-plus")
    assert pick_model(asr, [acct("qwen-web")], []) == catalog.table()["transcription"]["web_model"]
    assert pick_model(asr, [acct("openai", ("other",))], []) == asr


def test_dashscope_native_api_beside_the_compatible_one() -> None:
    assert native_base("https://dashscope-intl.aliyuncs.com/compatible-mode/v1") == (
        "https://dashscope-intl.aliyuncs.com/api/v1"
    )
    assert native_base("http://127.0.0.1:9000/v1") == "http://127.0.0.1:9000/api/v1"
