"""Audio encoding and decoding with PyAV (FFmpeg's codecs, shipped in the wheel), imported on first use.

Every speech upstream answers 24 kHz s16le mono PCM; `Encoder` turns it into the format the client asked
for as it arrives, so a streamed answer leaves the gateway while the upstream is still speaking. WAV needs
its sizes in the header, so it is written once, at the end (`wave` from the standard library).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

PCM_RATE = 24_000
SAMPLE_BYTES = 2  # s16le, mono

# response_format -> (container, codec) for PyAV; pcm and wav are written without it
CONTAINERS: dict[str, tuple[str, str]] = {
    "mp3": ("mp3", "libmp3lame"),
    "opus": ("ogg", "libopus"),
    "aac": ("adts", "aac"),
    "flac": ("flac", "flac"),
}
MEDIA_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
FORMATS = tuple(MEDIA_TYPES)


class AudioDecodeError(ValueError):
    """The bytes are not audio FFmpeg can read."""


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
    """PCM in, encoded bytes out, piece by piece; `close` returns the tail (and, for WAV, everything)."""

    def __init__(self, response_format: str) -> None:
        self.format = response_format
        self._odd = b""  # half a sample carried over between pieces
        self._pcm: list[bytes] = []  # WAV only
        self._container: Any = None
        self._stream: Any = None
        self._sink = _Sink()
        if response_format in CONTAINERS:
            import av  # lazily: only speech pays for FFmpeg's libraries

            container, codec = CONTAINERS[response_format]
            self._container = av.open(self._sink, mode="w", format=container)
            self._stream = self._container.add_stream(codec, rate=PCM_RATE, layout="mono")

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
        import av

        frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // SAMPLE_BYTES)
        frame.planes[0].update(pcm)
        frame.sample_rate = PCM_RATE
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

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
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()


@dataclass(frozen=True, slots=True)
class AudioInfo:
    duration: float  # seconds of decoded audio
    sample_rate: int
    channels: int


def probe(data: bytes) -> AudioInfo:
    """Decode the whole clip to learn its real length (container headers may lie or be missing)."""
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


def decode_pcm(data: bytes) -> tuple[bytes, int]:
    """The first audio stream as s16 mono PCM at its own rate (tests, and upstreams that answer WAV)."""
    import av

    out: list[bytes] = []
    rate = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono")
        for frame in container.decode(stream):
            rate = frame.sample_rate
            for piece in resampler.resample(frame):
                out.append(bytes(piece.planes[0])[: piece.samples * SAMPLE_BYTES])
    return b"".join(out), rate


class Tempo:
    """Speeds PCM up or down without changing its pitch (FFmpeg's `atempo`), for upstreams without a speed
    control. atempo takes factors from 0.5 up, so slower speeds chain two of them."""

    def __init__(self, speed: float) -> None:
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
