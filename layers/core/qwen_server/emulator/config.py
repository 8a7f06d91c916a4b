"""Everything the emulator is started with, as one record (built by the CLI or by tests)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from qwen_server.emulator.knobs import Knobs


@dataclass(frozen=True, slots=True)
class EmulatorConfig:
    """Start-up settings. `account_knobs` is keyed by account index (as a string) or by email."""

    host: str = "127.0.0.1"
    port: int = 8790
    fd: int | None = None  # serve on this inherited, already listening socket instead of binding host:port
    accounts: int = 3
    seed: int | None = None
    knobs: Knobs = field(default_factory=Knobs)
    account_knobs: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    signin_wall: int | None = None
    log_level: str = "warning"
    protocol_overrides: str | None = None  # JSON or a file, deep-merged over protocol.json (see front.py)
    waf: str = "off"  # off | page | captcha | cookie
    require_version: str | None = None  # refuse older `version` headers as the web app does (version_gate.py)
    outdated_shape: str = "json"  # json | sse | answer: how the refusal arrives on completions
    max_message_chars: int = 100_000  # a longer message is a Bad_Request, as the web app refuses one
    oss_v1_only: bool = False  # refuse V4-signed uploads (SignatureDoesNotMatch), so clients fall back to V1
    image_quota: int = 100  # images per account per day (t2i and image edits)
    video_quota: int = 20  # videos per account per day (t2v and i2v)
    video_seconds: float = 2.0  # how long a video task runs
    rtt: float = 0.0  # seconds every API call waits before it is handled (network.py)
