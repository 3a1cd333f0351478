"""Settings of the pipeline that joins embedder and index, with the LOOKALIKE_ prefix."""

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class EngineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    decode_threads: int = Field(
        default_factory=lambda: max(2, min(8, os.cpu_count() or 2)),
        ge=1,
        description="Threads that read, hash and decode images while the model runs.",
    )
    max_file_bytes: int = Field(50 * 1024 * 1024, ge=1, description="Largest image file accepted.")
    url_timeout_s: float = Field(10.0, gt=0, description="Timeout of one URL fetch.")
    url_schemes: list[str] = Field(["http", "https"], description="URL schemes ingest may fetch.")
    allow_private_urls: bool = Field(
        False, description="Let ingest fetch loopback, private and link-local addresses."
    )
