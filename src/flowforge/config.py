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
    otel: bool = Field(
        False,
        description="Let FastAPI report OpenTelemetry traces, metrics and logs to the globally "
        "configured providers (off: it costs time on every request)",
    )

    def http_allow_list(self) -> tuple[str, ...]:
        """``http_allow`` as a list."""
        return tuple(h.strip() for h in self.http_allow.split(",") if h.strip())

    def database(self, override: str | None = None) -> str:
        """The database URL to use: the flag, the setting, or SQLite in the data folder."""
        return override or self.database_url or f"sqlite:///{self.home / 'flowforge.db'}"
