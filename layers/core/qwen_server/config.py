"""One `Settings`, read once: environment > `.env` > defaults."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(ValueError):
    """A setting that cannot work. The message names the variable, never its value (it may be a secret)."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # accounts and access
    qwen_accounts: str | None = Field(default=None, description="JSON list of account entries")
    qwen_accounts_file: str | None = Field(default=None, description="qwen_accounts.py / .json / .toml")
    gateway_api_keys: str | None = Field(default=None, description="comma-separated keys clients must send")
    admin_api_keys: str | None = Field(
        default=None, description="comma-separated keys for /admin routes; unset: the routes answer 403"
    )

    # state
    data_dir: Path = Path("./data")
    store_url: str | None = None
    redis_url: str | None = None
    kv_url: str | None = None
    blob_url: str | None = Field(
        default=None, description="file:///dir, s3://bucket/prefix or vercel-blob://prefix; default DATA_DIR/blobs"
    )
    s3_endpoint_url: str | None = Field(default=None, description="an S3-compatible endpoint instead of AWS")
    blob_read_write_token: str | None = Field(default=None, description="Vercel Blob's token (set by Vercel)")
    vercel_blob_api_url: str | None = Field(default=None, description="Vercel Blob's API, if not the default")
    blob_signing_key: str | None = Field(default=None, description="HMAC key of blob links; default: kept in the store")
    blob_link_seconds: float = Field(default=3600.0, gt=0, description="how long a blob link stays valid")
    blob_sweep_seconds: float = Field(
        default=600.0,
        gt=0,
        description="how often `serve`, `worker` and the scheduled batch ticks delete expired local and Vercel blobs",
    )
    public_base_url: str | None = Field(default=None, description="the origin clients reach the gateway at")
    vercel: bool = Field(default=False, description="set to 1 by Vercel in its functions")

    # scheduler (names kept from the original server)
    sched_chat_concurrent: int = 50
    sched_chat_queue: int = 500
    sched_chat_timeout: float = 120.0
    sched_media_concurrent: int = 10
    sched_media_queue: int = 100
    sched_media_timeout: float = 300.0
    sched_aux_concurrent: int = 20
    sched_aux_queue: int = 200
    sched_aux_timeout: float = 60.0
    sched_batch_concurrent: int = 4
    sched_batch_queue: int = 1000
    sched_batch_timeout: float = 600.0

    # account slots: a dead instance's slots come back after this long (live ones renew every third of it)
    account_lease_seconds: float = Field(default=60.0, gt=0)
    # failover retries in flight per process: at most max(min, ratio x requests in flight)
    retry_budget_ratio: float = Field(default=0.2, ge=0, le=1)
    retry_budget_min: int = Field(default=3, ge=0)

    # upstream behaviour
    upstream_connect_timeout: float = 10.0
    upstream_first_byte_timeout: float = 60.0
    upstream_idle_timeout: float = 120.0
    anthropic_ping_interval: float = Field(default=10.0, gt=0, description="seconds of silence before a ping")
    stream_write_timeout: float = Field(
        default=60.0,
        gt=0,
        description="seconds a streaming client may leave a write unread before it is cut off",
    )
    models_cache_seconds: float = 300.0
    account_disable_seconds: float = Field(
        default=3600.0, gt=0, description="how long refused credentials keep an account disabled"
    )
    model_aliases: str | None = Field(default=None, description="JSON object alias -> upstream model id")
    default_model: str = "qwen3-max"
    qwen_bx_v: str | None = None
    qwen_bx_ua: str | None = None
    qwen_bx_umidtoken: str | None = None
    qwen_user_agent: str | None = None
    qwen_protocol_overrides: str | None = Field(
        default=None, description="JSON (or a JSON file) patching providers/qwen_web/protocol.json"
    )
    delete_chats: bool = True
    ready_chats: int = Field(
        default=2, ge=0, description="web chats kept made ahead per account, model and chat type; 0: off"
    )
    ready_chat_seconds: float = Field(
        default=300.0, gt=0, description="an unused ready chat is deleted upstream after this long"
    )

    # media input
    large_text_threshold: int = Field(
        default=50_000,
        gt=0,
        description="characters of flattened text above which a web turn goes up as a file",
    )
    fetch_allow_private_networks: bool = False
    fetch_allowed_hosts: str | None = Field(
        default=None,
        description="comma-separated host or host:port whose addresses the fetcher does not check",
    )
    fetch_timeout: float = Field(default=30.0, gt=0, description="seconds to read one client-given URL")
    # image and video generation
    video_poll_seconds: float = Field(default=3.0, gt=0, description="upstream video status, at most this often")
    video_keep_seconds: float = Field(default=86400.0, gt=0, description="a finished video is kept this long")
    video_tick_seconds: float = Field(default=15.0, gt=0, description="`serve`'s video worker runs this often")
    cron_secret: str | None = Field(default=None, description="bearer secret of the cron routes (Vercel)")
    self_base_url: str | None = Field(
        default=None, description="where the deployment calls its own tick routes; default: its Vercel domain"
    )
    # set by Vercel (system environment variables); the self-calls are addressed and let through with them
    vercel_env: str | None = Field(default=None, description="production, preview or development")
    vercel_url: str | None = Field(default=None, description="this deployment's generated host name")
    vercel_project_production_url: str | None = Field(default=None, description="the production domain")
    vercel_automation_bypass_secret: str | None = Field(default=None, description="Deployment Protection bypass")

    # exposure, limits and operations (README: Security, Operations)
    allow_anonymous: bool = Field(
        default=False, description="deployed without GATEWAY_API_KEYS: serve anyway instead of answering 401"
    )
    rate_limit_rpm: int = Field(default=0, ge=0, description="requests per minute per tenant; 0: no limit")
    rate_limit_tpm: int = Field(default=0, ge=0, description="tokens per minute per tenant; 0: no limit")
    rate_limits: str | None = Field(
        default=None, description='JSON object: gateway key or tenant id -> {"rpm": n, "tpm": n}'
    )
    cors_origins: str | None = Field(default=None, description="comma-separated origins, or *")
    allowed_hosts: str | None = Field(
        default=None,
        description="without GATEWAY_API_KEYS: Host names accepted besides localhost and loopback (or *)",
    )
    api_docs: bool = Field(default=False, description="serve the interactive API docs at /docs")

    special_code_mode: bool = False
    responses_ttl_seconds: float = Field(
        default=30 * 86400.0, gt=0, description="how long stored Responses API responses are kept"
    )
    debug: bool = False
    max_request_bytes: int = 20 * 1024 * 1024
    tool_calls_in_code_fences: bool = Field(
        default=False, description="run a <tool_call> a web model writes inside a Markdown code fence"
    )

    # files and batches
    files_max_bytes: int = Field(default=200 * 1024 * 1024, gt=0, description="largest upload (413 past it)")
    batch_worker: bool = Field(default=True, description="run the batch worker inside `serve`")
    batch_chunk_lines: int = Field(default=20, gt=0, description="batch lines leased to a worker at a time")
    batch_lease_seconds: float = Field(default=60.0, gt=0, description="a dead worker's chunk returns after")
    batch_tick_seconds: float = Field(default=50.0, gt=0, description="longest run of one scheduled tick")

    def resolved_store_url(self) -> str:
        """`STORE_URL`, else Vercel/Upstash's `REDIS_URL` / `KV_URL`, else SQLite under `DATA_DIR`."""
        if self.store_url:
            return self.store_url
        for url in (self.redis_url, self.kv_url):
            if url and url.startswith(("redis://", "rediss://")):
                return url
        return f"sqlite:///{(self.data_dir / 'state.db').as_posix()}"

    def gateway_keys(self) -> frozenset[str]:
        return _keys(self.gateway_api_keys)

    def admin_keys(self) -> frozenset[str]:
        return _keys(self.admin_api_keys)


def _keys(raw: str | None) -> frozenset[str]:
    return frozenset(k.strip() for k in (raw or "").split(",") if k.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings; a value of the wrong type is a `ConfigError` naming its variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        variable = str(first["loc"][0]).upper() if first["loc"] else "a setting"
        raise ConfigError(f"{variable}: {first['msg']}") from None
