"""Audio encoding for speech and clip lengths for transcription, with the lightest library that does each.

Every speech upstream answers 24 kHz s16le mono PCM; `Encoder` turns it into the format the client asked for
as it arrives, so a streamed answer leaves the gateway while the upstream is still speaking:
- pcm, wav: the standard library (WAV needs its sizes in the header, so it is written once, at the end);
- mp3: `lameenc` (LAME in a wheel of a few hundred kB);
- flac: `audio.flac`, a small verbatim FLAC writer;
- opus, aac, and speed changes (FFmpeg's `atempo`): PyAV, the `audio` extra (FFmpeg's libraries, ~130 MB),
  which the serverless deployments leave out to stay within their size limits. Without it those answer 400
  naming what is missing.
`probe` reads WAV, MP3, FLAC and Ogg lengths itself (`audio.probe`) and asks PyAV for anything else.
Every library is imported on first use.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from qwen_server.core.errors import InvalidRequest

PCM_RATE = 24_000
SAMPLE_BYTES = 2  # s16le, mono
MP3_KBPS = 64

# response_format -> (container, codec) for PyAV
PYAV_FORMATS: dict[str, tuple[str, str]] = {"opus": ("ogg", "libopus"), "aac": ("adts", "aac")}
MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
FORMATS = tuple(MEDIA_TYPES)
EXTRA = "pip install 'qwen-api-server[audio]'"


class AudioDecodeError(ValueError):
    """The bytes are not audio the gateway can read."""


def has_pyav() -> bool:
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


def available_formats() -> tuple[str, ...]:
    return FORMATS if has_pyav() else tuple(f for f in FORMATS if f not in PYAV_FORMATS)


def _needs_pyav(what: str, param: str) -> InvalidRequest:
    return InvalidRequest(
        f"{what} needs PyAV (FFmpeg's codecs), which this deployment does not install ({EXTRA}); "
        f"available response formats here: {', '.join(available_formats())}",
        param=param,
        code="unsupported_on_this_deployment",
    )


class _Sink:
    """A write-only file for PyAV's muxer: what it wrote since the last `take`."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class Encoder:
    """PCM in, encoded bytes out, piece by piece; `close` returns the tail (and, for WAV, everything).
    An `InvalidRequest` (400) at construction when the format needs a library this install lacks."""

    def __init__(self, response_format: str) -> None:
        self.format = response_format
        self._odd = b""  # half a sample carried over between pieces
        self._pcm: list[bytes] = []  # WAV only
        self._impl: Any = None
        if response_format == "mp3":
            import lameenc

            self._impl = lameenc.Encoder()
            self._impl.set_bit_rate(MP3_KBPS)
            self._impl.set_in_sample_rate(PCM_RATE)
            self._impl.set_channels(1)
            self._impl.set_quality(5)
        elif response_format == "flac":
            from qwen_server.audio.flac import FlacWriter

            self._impl = FlacWriter(PCM_RATE)
        elif response_format in PYAV_FORMATS:
            if not has_pyav():
                raise _needs_pyav(f"response_format {response_format!r}", "response_format")
            self._impl = _PyAVEncoder(*PYAV_FORMATS[response_format])

    def feed(self, pcm: bytes) -> bytes:
        pcm = self._odd + pcm
        whole = len(pcm) - len(pcm) % SAMPLE_BYTES
        pcm, self._odd = pcm[:whole], pcm[whole:]
        if not pcm:
            return b""
        if self.format == "pcm":
            return pcm
        if self.format == "wav":
            self._pcm.append(pcm)
            return b""
        return bytes(self._impl.encode(pcm) if self.format == "mp3" else self._impl.feed(pcm))

    def close(self) -> bytes:
        if self.format == "pcm":
            return b""
        if self.format == "wav":
            out = io.BytesIO()
            with wave.open(out, "wb") as writer:
                writer.setnchannels(1)
                writer.setsampwidth(SAMPLE_BYTES)
                writer.setframerate(PCM_RATE)
                writer.writeframes(b"".join(self._pcm))
            return out.getvalue()
        return bytes(self._impl.flush() if self.format == "mp3" else self._impl.close())


class _PyAVEncoder:
    def __init__(self, container: str, codec: str) -> None:
        import av

        self._sink = _Sink()
        self._container: Any = av.open(self._sink, mode="w", format=container)
        self._stream: Any = self._container.add_stream(codec, rate=PCM_RATE, layout="mono")

    def feed(self, pcm: bytes) -> bytes:
        import av

        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // SAMPLE_BYTES)
        frame.planes[0].update(pcm)
        frame.sample_rate = PCM_RATE
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def close(self) -> bytes:
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()


@dataclass(frozen=True, slots=True)
class AudioInfo:
    duration: float  # seconds of audio
    sample_rate: int
    channels: int


def probe(data: bytes) -> AudioInfo:
    """The clip's real length: from its own frames for WAV, MP3, FLAC and Ogg, else by decoding it whole
    with PyAV (container headers may lie or be missing)."""
    from qwen_server.audio.probe import duration

    found = duration(data)
    if found is not None:
        return AudioInfo(*found)
    if not has_pyav():
        raise AudioDecodeError(
            "this deployment reads WAV, MP3, FLAC and Ogg (Opus, Vorbis) uploads; other formats need PyAV "
            f"({EXTRA})"
        )
    return _probe_pyav(data)


def _probe_pyav(data: bytes) -> AudioInfo:
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioDecodeError("the file holds no audio stream")
            stream = container.streams.audio[0]
            samples = 0
            rate = 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
            rate = rate or int(stream.rate or 0)
            channels = int(stream.codec_context.channels or 1)
    except av.error.FFmpegError as exc:
        raise AudioDecodeError(f"the file could not be decoded as audio ({exc.__class__.__name__})") from None
    if not samples or not rate:
        raise AudioDecodeError("the file holds no audio samples")
    return AudioInfo(samples / rate, rate, channels)


class Tempo:
    """Speeds PCM up or down without changing its pitch (FFmpeg's `atempo`), for upstreams without a speed
    control. atempo takes factors from 0.5 up, so slower speeds chain two of them. Needs PyAV (400 without)."""

    def __init__(self, speed: float) -> None:
        if not has_pyav():
            raise _needs_pyav(f"speed {speed} on this voice", "speed")
        import av

        self._graph = av.filter.Graph()
        source = self._graph.add_abuffer(
            format="s16", sample_rate=PCM_RATE, layout="mono", time_base=Fraction(1, PCM_RATE)
        )
        factors = [speed] if speed >= 0.5 else [0.5, speed / 0.5]
        node = source
        for factor in factors:
            step = self._graph.add("atempo", f"{factor}")
            node.link_to(step)
            node = step
        sink = self._graph.add("abuffersink")
        node.link_to(sink)
        self._graph.configure()
        self._pts = 0
        self._odd = b""

    def feed(self, pcm: bytes) -> bytes:
        import av

        pcm = self._odd + pcm
        whole = len(pcm) - len(pcm) % SAMPLE_BYTES
        pcm, self._odd = pcm[:whole], pcm[whole:]
        if not pcm:
            return b""
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // SAMPLE_BYTES)
        frame.planes[0].update(pcm)
        frame.sample_rate = PCM_RATE
        frame.pts = self._pts
        self._pts += frame.samples
        self._graph.push(frame)
        return self._pull()

    def close(self) -> bytes:
        self._graph.push(None)
        return self._pull()

    def _pull(self) -> bytes:
        import av

        out: list[bytes] = []
        while True:
            try:
                frame = self._graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                break
            assert isinstance(frame, av.AudioFrame)
            out.append(bytes(frame.planes[0])[: frame.samples * SAMPLE_BYTES])
        return b"".join(out)
