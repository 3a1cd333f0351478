"""API settings, read from the environment with the LOOKALIKE_ prefix."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    host: str = Field("127.0.0.1", description="Bind address; localhost unless you mean it.")
    port: int = Field(8000, ge=0, le=65535)
    max_body_bytes: int = Field(
        200 * 1024 * 1024, ge=1, description="Largest request body; checked while streaming."
    )
    max_files_per_request: int = Field(100, ge=1)
    max_urls_per_request: int = Field(10_000, ge=1)
    max_k: int = Field(100, ge=1, description="Largest number of results one search returns.")
    default_k: int = Field(10, ge=1)
    max_batch_queries: int = Field(
        32, ge=1, description="Queries one POST /v1/search/batch may hold."
    )
    batch_max: int | None = Field(
        None,
        ge=1,
        description="Query images gathered into one forward pass; unset: 32 on a GPU, 8 on "
        "the CPU (where larger batches run slower per image).",
    )
    batch_wait_ms: float = Field(
        2.0, ge=0, description="How long a batch waits for queries still being decoded."
    )
    queue_max: int = Field(256, ge=1, description="Queries waiting beyond this answer 503.")
    thumbnail_px: int = Field(256, ge=16, le=2048)
    max_waiting_uploads: int = Field(
        64, ge=1, description="Uploads with wait=true held open at once; more answer 503."
    )
    upload_wait_s: float = Field(600.0, gt=0, description="How long a waiting upload waits.")
    refresh_every_s: float = Field(
        0.5, gt=0, description="How often the index catches up with what workers wrote."
    )
    rate_limit_per_s: float = Field(
        0.0,
        ge=0,
        description="Requests per second per API key (per address without keys); 0 = no limit. "
        "A key created with its own rate overrides it.",
    )
    auth_failures_per_s: float = Field(
        5.0,
        ge=0,
        description="Refused requests (a wrong or missing key) per second per address before "
        "they answer 429 (a burst of twice as many is allowed); 0 = no limit.",
    )
    save_every_s: float = Field(
        300.0, gt=0, description="How often the index is saved when it changed."
    )
    compact_every_s: float = Field(
        60.0, gt=0, description="How often LanceDB's small write fragments are merged."
    )
    backup_dir: Path | None = Field(
        None,
        description="The folder POST /v1/admin/snapshots writes backups into, each by name; "
        "unset, backups are made with `lookalike snapshot create` only.",
    )
    weights_dir: Path | None = Field(
        None,
        description="The one folder from which POST /v1/reindex may load a weights file by "
        "name; unset: only weights names.",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, description="A connection must send its request headers within this."
    )
    body_timeout_s: float = Field(
        30.0, gt=0, description="Longest pause while a request body is being received."
    )
    http_parser: Literal["auto", "httptools", "h11"] = Field(
        "auto", description="uvicorn's HTTP parser; auto: httptools when installed."
    )
    max_connections: int = Field(
        512, ge=1, description="Connections and requests at once; more answer 503 at once."
    )
    max_json_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest JSON request body (uploads are multipart)."
    )
    cors_origins: list[str] = Field(default_factory=list, description="Off unless set.")
