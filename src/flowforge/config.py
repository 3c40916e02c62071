"""Settings from the environment (``FLOWFORGE_*``); CLI flags override them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Where FlowForge keeps its data and how the local engine behaves."""

    model_config = SettingsConfigDict(env_prefix="FLOWFORGE_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".flowforge")
    database_url: str | None = Field(None, description="SQLAlchemy URL; SQLite in home if unset")
    lease_ttl_s: float = Field(30.0, gt=0, description="How long a run's lease lasts unrenewed")
    host: str = Field("127.0.0.1", description="Address flowforge serve listens on")
    port: int = Field(8989, ge=0, le=65535, description="Port flowforge serve listens on")
    retention_days: float | None = Field(
        None, gt=0, description="Delete finished runs older than this; keep all if unset"
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, gt=0, description="Largest request body accepted (413 above it)"
    )
    load_examples: bool = Field(True, description="Add the example workflows on first start")
    log_format: str = Field("json", pattern="^(json|text)$", description="json or text logs")
    log_level: str = Field("INFO", description="Python logging level")
    workers: int = Field(
        1,
        ge=1,
        le=64,
        description="Server processes sharing the port and the database (flowforge serve)",
    )
    service_timeout_s: float = Field(
        300.0, gt=0, le=86_400, description="Time limit of one POST /api/v1/{connector}/{action}"
    )
    http_allow: str = Field(
        "",
        description="Hosts and CIDR ranges (comma-separated) that nodes may reach although the "
        "SSRF guard refuses private addresses, e.g. 'intranet.example,10.1.0.0/16'",
    )
    public_url: str | None = Field(
        None,
        description="The URL users reach the server at, e.g. https://flowforge.example.com "
        "(sign-in messages and tokens name it); http://HOST:PORT if unset",
    )
    insecure_no_auth: bool = Field(
        False,
        description="Let every request act as the owner of the default organisation, without "
        "authentication: for local experiments only, refused unless listening on loopback",
    )
    admin_api_key: str | None = Field(
        None,
        description="An API key (ffk_..., from flowforge keys generate) stored on start as an "
        "owner key of the default organisation, for automated set-ups",
        repr=False,
    )
    admin_api_key_file: Path | None = Field(None, description="A file holding admin_api_key")
    default_plan: str = Field(
        "pro",
        pattern="^(free|basic|pro|enterprise)$",
        description="The plan (rate limits) of the default organisation: free, basic, pro or "
        "enterprise",
    )
    redis_url: str | None = Field(
        None, description="Redis for rate limits shared by every server process (redis://...)"
    )
    ratelimit_strategy: str = Field(
        "sliding-window-counter",
        pattern="^(sliding-window-counter|moving-window)$",
        description="How rate limits count: sliding-window-counter (two counters per window, "
        "constant memory) or moving-window (exact, one timestamp per request: memory and "
        "upkeep grow with the requests of the last day)",
    )
    auth_cache_s: float = Field(
        5.0,
        ge=0,
        le=300,
        description="How long a process trusts what it read of an API key or a membership: a "
        "revocation made by another process takes effect within this time",
    )
    access_token_ttl_s: int = Field(
        900, ge=60, le=86_400, description="Lifetime of a session's access token"
    )
    siwe_chain_id: int = Field(1, ge=1, description="The chain id Sign-In with Ethereum names")
    login_limit: str = Field(
        "20/minute; 500/day",
        description="Sign-in attempts per client address, in the limits library's notation",
    )
    cors_origins: str = Field(
        "",
        description="Origins (comma-separated) whose browser pages may call the API, e.g. "
        "'https://tools.example.com'; none if empty",
    )
    web_dist: Path = Field(
        default_factory=lambda: Path(__file__).with_name("web") / "dist",
        description="The built web editor (index.html and assets/) served at /; by default the "
        "one in the package (make ui builds it there)",
    )
    otel: bool = Field(
        False,
        description="Let FastAPI report OpenTelemetry traces, metrics and logs to the globally "
        "configured providers (off: it costs time on every request)",
    )

    backend: str = Field(
        "local",
        pattern="^(local|temporal)$",
        description="Who drives runs: local (this process, on asyncio) or temporal (a Temporal "
        "cluster and flowforge worker processes)",
    )
    temporal_address: str = Field(
        "127.0.0.1:7233", description="host:port of the Temporal frontend (backend temporal)"
    )
    temporal_namespace: str = Field("default", min_length=1, description="Temporal namespace")
    temporal_task_queue: str = Field(
        "flowforge", min_length=1, description="Task queue the workers poll and runs start on"
    )
    temporal_tls: bool = Field(False, description="Connect to Temporal over TLS")
    temporal_api_key: str | None = Field(
        None, description="API key for Temporal (Temporal Cloud); implies TLS", repr=False
    )
    temporal_inline_bytes: int = Field(
        256 * 1024,
        ge=1024,
        le=1024 * 1024,
        description="Node outputs and run inputs larger than this (as JSON) are kept in the "
        "FlowForge store and travel through Temporal as references",
    )
    temporal_heartbeat_s: float = Field(
        10.0,
        gt=0,
        le=3600,
        description="A step whose worker stops heartbeating for this long is tried again "
        "elsewhere (a worker that died mid-step)",
    )
    temporal_step_timeout_s: float = Field(
        86_400.0,
        gt=0,
        description="Time limit of a step whose node sets no timeout_s, as Temporal enforces it",
    )
    worker_max_activities: int = Field(
        64, ge=1, le=10_000, description="Steps one flowforge worker runs at once"
    )
    worker_max_workflow_tasks: int = Field(
        64, ge=1, le=10_000, description="Workflow tasks one flowforge worker runs at once"
    )
    worker_shutdown_s: float = Field(
        10.0,
        ge=0,
        le=3600,
        description="On stop, how long a flowforge worker lets its steps finish before "
        "cancelling them (Temporal then runs them again on another worker)",
    )

    def http_allow_list(self) -> tuple[str, ...]:
        """``http_allow`` as a list."""
        return tuple(h.strip() for h in self.http_allow.split(",") if h.strip())

    def cors_origin_list(self) -> tuple[str, ...]:
        """``cors_origins`` as a list."""
        return tuple(o.strip() for o in self.cors_origins.split(",") if o.strip())

    def base_url(self) -> str:
        """``public_url``, or the address the server listens on."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def database(self, override: str | None = None) -> str:
        """The database URL to use: the flag, the setting, or SQLite in the data folder."""
        return override or self.database_url or f"sqlite:///{self.home / 'flowforge.db'}"
