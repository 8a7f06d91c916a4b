"""Shared by the audio end-to-end tests: a fake OpenAI-compatible upstream serving every audio endpoint, and
decoding answers back with PyAV (the library the gateway encodes with)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import av
import httpx

from qwen_server.audio.codec import Encoder
from qwen_server.emulator.media import speech_pcm
from tests.processes import Service, start_fake_openai

FAKE_MODELS = ("qwen3-max", "qwen3-asr-flash", "qwen3-tts-flash", "text-embedding-v4")


def start_audio_upstream() -> Service:
    return start_fake_openai("--models", *FAKE_MODELS, "--embedding-rows", "10")


def account(kind: str, upstream: Service, name: str) -> dict[str, Any]:
    return {"kind": kind, "base_url": f"{upstream.url}/v1", "api_key": "sk-test", "name": name}


def bodies(upstream: Service) -> list[dict[str, Any]]:
    response = httpx.get(f"{upstream.url}/_fake/bodies", timeout=30)
    response.raise_for_status()
    data: list[dict[str, Any]] = response.json()
    return data


def stats(upstream: Service) -> dict[str, int]:
    data: dict[str, int] = httpx.get(f"{upstream.url}/_fake/stats", timeout=30).json()
    return data


@dataclass(frozen=True)
class Decoded:
    duration: float
    sample_rate: int
    channels: int
    codec: str  # the decoder FFmpeg picked (e.g. mp3float, aac, flac, opus, pcm_s16le)
    container: str  # the demuxer that read it (mp3, ogg, aac, flac, wav)


def decode(data: bytes) -> Decoded:
    """Every frame decoded: the real length, not what a header claims."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        samples, rate = 0, 0
        for frame in container.decode(stream):
            samples += frame.samples
            rate = frame.sample_rate
        return Decoded(
            samples / rate,
            rate,
            stream.codec_context.channels,
            stream.codec_context.name,
            container.format.name,
        )


def wav_of(text: str) -> bytes:
    """A WAV clip of the emulated speech of `text` (40 ms per character)."""
    encoder = Encoder("wav")
    return encoder.feed(speech_pcm(text)) + encoder.close()


def encoded(text: str, fmt: str) -> bytes:
    encoder = Encoder(fmt)
    return encoder.feed(speech_pcm(text)) + encoder.close()
