"""Settings, from environment variables and a .env file (read only by the container)."""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, PrivateAttr, SecretStr, computed_field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stackduck.domain.rules import DEFAULT_MAX_PAYLOAD_BYTES
from stackduck.redact import url_secrets

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 50051
#: Where HTTP listens when HTTP_ADDR is not set; if it is taken, the server runs without.
DEFAULT_HTTP_ADDR = "127.0.0.1:8080"
#: Server processes sharing one port (``stackduck serve --processes N``) at most.
MAX_PROCESSES = 64
#: RPCs one server process serves at once: room for thousands of open ConsumeJobs
#: streams and the acknowledgements of their workers.
DEFAULT_MAX_CONCURRENT_RPCS = 10_000


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    server_addr: str = Field("", validation_alias=_env("SERVER_ADDR", "STACKDUCK_SERVER_ADDR"))
    grpc_port: int | None = Field(None, ge=0, le=65535, validation_alias=_env("GRPC_PORT"))
    # URLs may hold a password: secrets, unwrapped only by the container.
    database_url: SecretStr | None = Field(
        None, validation_alias=_env("DATABASE_URL", "STACKDUCK_DATABASE_URL")
    )
    redis_url: SecretStr | None = Field(None, validation_alias=_env("REDIS_URL", "STACKDUCK_REDIS_URL"))
    database_pool_size: int = Field(10, ge=1, le=200, validation_alias=_env("STACKDUCK_DATABASE_POOL_SIZE"))
    redis_pool_size: int = Field(50, ge=1, le=1000, validation_alias=_env("STACKDUCK_REDIS_POOL_SIZE"))
    redis_prefix: str = Field(
        "stackduck", min_length=1, pattern=r"^[^{}\s]+$", validation_alias=_env("STACKDUCK_REDIS_PREFIX")
    )
    redis_reconcile_seconds: float = Field(
        300.0, gt=0, validation_alias=_env("STACKDUCK_REDIS_RECONCILE_SECONDS")
    )
    redis_reconcile_jobs_per_second: float = Field(
        10_000.0, gt=0, validation_alias=_env("STACKDUCK_REDIS_RECONCILE_JOBS_PER_SECOND")
    )
    lease_seconds: float = Field(300.0, gt=0, le=24 * 3600, validation_alias=_env("STACKDUCK_LEASE_SECONDS"))
    max_payload_bytes: int = Field(
        DEFAULT_MAX_PAYLOAD_BYTES,
        ge=2,
        le=64 * 1024 * 1024,
        validation_alias=_env("STACKDUCK_MAX_PAYLOAD_BYTES"),
    )
    job_timeout_seconds: float = Field(
        0.0, ge=0, le=86_400, validation_alias=_env("STACKDUCK_JOB_TIMEOUT_SECONDS")
    )
    idempotency_seconds: float = Field(
        86_400.0, ge=0, le=366 * 24 * 3600, validation_alias=_env("STACKDUCK_IDEMPOTENCY_SECONDS")
    )
    retry_jitter: float = Field(0.0, ge=0.0, le=1.0, validation_alias=_env("STACKDUCK_RETRY_JITTER"))
    shutdown_grace_seconds: float = Field(
        10.0, ge=0, validation_alias=_env("STACKDUCK_SHUTDOWN_GRACE_SECONDS")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=_env("STACKDUCK_LOG_LEVEL", "LOG_LEVEL")
    )
    log_format: Literal["text", "json"] = Field("text", validation_alias=_env("STACKDUCK_LOG_FORMAT"))
    http_addr: str | None = Field(
        None, pattern=r"^.+:\d{1,5}$", validation_alias=_env("HTTP_ADDR", "STACKDUCK_HTTP_ADDR")
    )
    auth_token: SecretStr | None = Field(None, validation_alias=_env("STACKDUCK_AUTH_TOKEN"))
    auth_token_file: Path | None = Field(None, validation_alias=_env("STACKDUCK_AUTH_TOKEN_FILE"))
    readonly_token: SecretStr | None = Field(None, validation_alias=_env("STACKDUCK_READONLY_TOKEN"))
    tls_cert: Path | None = Field(None, validation_alias=_env("STACKDUCK_TLS_CERT"))
    tls_key: Path | None = Field(None, validation_alias=_env("STACKDUCK_TLS_KEY"))
    max_streams_per_client: int = Field(2000, ge=1, validation_alias=_env("STACKDUCK_MAX_STREAMS_PER_CLIENT"))
    max_watch_streams: int = Field(1000, ge=1, validation_alias=_env("STACKDUCK_MAX_WATCH_STREAMS"))
    max_concurrent_rpcs: int = Field(
        DEFAULT_MAX_CONCURRENT_RPCS, ge=1, validation_alias=_env("STACKDUCK_MAX_CONCURRENT_RPCS")
    )
    completed_retention_seconds: float = Field(
        24 * 3600.0, gt=0, validation_alias=_env("STACKDUCK_COMPLETED_RETENTION_SECONDS")
    )
    dead_retention_seconds: float = Field(
        0.0, ge=0, validation_alias=_env("STACKDUCK_DEAD_RETENTION_SECONDS")
    )
    processes: int = Field(1, ge=1, le=MAX_PROCESSES, validation_alias=_env("STACKDUCK_PROCESSES"))
    #: Without DATABASE_URL or REDIS_URL: which storage of this process — a SQLite file in
    #: data_dir (the default), or memory.
    storage_choice: Literal["memory", "sqlite"] | None = Field(
        None, validation_alias=_env("STACKDUCK_STORAGE")
    )
    data_dir: str = Field("stackduck-data", min_length=1, validation_alias=_env("STACKDUCK_DATA_DIR"))
    #: SQLite's synchronous setting: "normal" keeps every commit through a crash of the
    #: process; "full" through a power loss too, at the price of a sync per commit.
    sqlite_synchronous: Literal["normal", "full"] = Field(
        "normal", validation_alias=_env("STACKDUCK_SQLITE_SYNCHRONOUS")
    )
    _file_token: SecretStr | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _check_pairs(self) -> Settings:
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("STACKDUCK_TLS_CERT and STACKDUCK_TLS_KEY go together: set both or neither")
        if self.auth_token is not None and self.auth_token_file is not None:
            raise ValueError("set STACKDUCK_AUTH_TOKEN or STACKDUCK_AUTH_TOKEN_FILE, not both")
        if self.auth_token is not None and not self.auth_token.get_secret_value().strip():
            raise ValueError(
                "STACKDUCK_AUTH_TOKEN is empty: set it to the token every client must send, "
                "or unset it to serve without authentication"
            )
        if self.auth_token_file is not None:
            self._file_token = SecretStr(_read_token(self.auth_token_file))
        if self.readonly_token is not None:
            self._check_readonly(self.readonly_token.get_secret_value())
        if self.storage_choice is not None and (self.database_url or self.redis_url):
            raise ValueError(
                f"STACKDUCK_STORAGE={self.storage_choice} and DATABASE_URL/REDIS_URL name different storage: "
                "unset STACKDUCK_STORAGE to use the URLs, or unset the URLs"
            )
        if self.processes > 1 and self.storage == "memory":
            raise ValueError(
                f"{self.processes} server processes need shared storage: in-memory storage lives in one "
                "process, so each would keep a queue of its own; set DATABASE_URL and/or REDIS_URL, "
                "or serve with one process"
            )
        if self.processes > 1 and self.storage == "sqlite":
            raise ValueError(
                f"{self.processes} server processes need shared storage: one server process owns a SQLite "
                "data directory; set DATABASE_URL and/or REDIS_URL, or serve with one process"
            )
        return self

    def _check_readonly(self, readonly: str) -> None:
        if not readonly.strip():
            raise ValueError(
                "STACKDUCK_READONLY_TOKEN is empty: set it to the dashboard's read-only token, or unset it"
            )
        if self.token() is None:
            raise ValueError(
                "STACKDUCK_READONLY_TOKEN needs STACKDUCK_AUTH_TOKEN (or _FILE): without a token for "
                "changes, everyone may change everything and a read-only token means nothing"
            )
        if hmac.compare_digest(readonly.encode(), (self.token() or "").encode()):
            raise ValueError("STACKDUCK_READONLY_TOKEN must differ from STACKDUCK_AUTH_TOKEN")

    def readonly(self) -> str | None:
        """The dashboard's read-only token, if one is configured: it sees, never changes."""
        return None if self.readonly_token is None else self.readonly_token.get_secret_value()

    def token(self) -> str | None:
        """The bearer token every call must carry, if one is configured (never empty)."""
        given = self.auth_token if self.auth_token is not None else self._file_token
        return None if given is None else given.get_secret_value()

    def secrets(self) -> set[str]:
        """What must never be written out: the token, the passwords in the URLs."""
        token = self.token()
        return (
            url_secrets(_reveal(self.database_url))
            | url_secrets(_reveal(self.redis_url))
            | ({token} if token else set())
            | ({readonly} if (readonly := self.readonly()) else set())
        )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def listen_address(self) -> str:
        """SERVER_ADDR ("host:port", or a bare port), else GRPC_PORT on 127.0.0.1."""
        if self.server_addr:
            return self.server_addr if ":" in self.server_addr else f"{DEFAULT_HOST}:{self.server_addr}"
        port = DEFAULT_PORT if self.grpc_port is None else self.grpc_port
        return f"{DEFAULT_HOST}:{port}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def http_address(self) -> str:
        """HTTP_ADDR, else the default address."""
        return DEFAULT_HTTP_ADDR if self.http_addr is None else self.http_addr

    @computed_field  # type: ignore[prop-decorator]
    @property
    def http_optional(self) -> bool:
        """HTTP_ADDR was not set: if the default address is taken, serve without HTTP."""
        return self.http_addr is None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def storage(self) -> str:
        """Which storage configuration the settings ask for."""
        if self.database_url and self.redis_url:
            return "redis+postgres"
        if self.database_url:
            return "postgres"
        if self.redis_url:
            return "redis"
        return self.storage_choice or "sqlite"


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _read_token(path: Path) -> str:
    """The token in STACKDUCK_AUTH_TOKEN_FILE: its text, stripped; never empty."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(
            f"STACKDUCK_AUTH_TOKEN_FILE {path} cannot be read ({exc.strerror or type(exc).__name__}): "
            "point it at a readable file holding the token"
        ) from None
    except UnicodeDecodeError:
        raise ValueError(f"STACKDUCK_AUTH_TOKEN_FILE {path} is not UTF-8 text: put the token in it") from None
    if not token:
        raise ValueError(
            f"STACKDUCK_AUTH_TOKEN_FILE {path} is empty: put the token every client must send in it, "
            "or unset it to serve without authentication"
        )
    return token
