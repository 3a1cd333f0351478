"""Index and storage settings, read from the environment with the LOOKALIKE_ prefix."""

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Object stores the catalog can live on (pyarrow.fs and LanceDB's object_store both read them)
REMOTE_SCHEMES = ("s3", "gs", "gcs", "az", "abfs", "abfss")


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    data_dir: Path = Field(
        Path("lookalike-data"),
        description="This process's local folder: the catalog too unless data_uri names "
        "another place, and always the caches (index snapshots, thumbnails), logs and the "
        "embedded Redis.",
    )
    data_uri: str | None = Field(
        None,
        description="Where the catalog lives (LanceDB tables, image blobs, index snapshots): "
        "a folder, or s3://bucket/prefix (gs:// and az:// too); unset: data_dir.",
    )
    storage_endpoint: str | None = Field(
        None, description="Object store endpoint for S3-compatible servers (MinIO), with scheme."
    )
    storage_region: str | None = Field(None, description="Object store region.")
    storage_access_key_id: str | None = Field(
        None, description="Object store access key; unset: the cloud's credential chain."
    )
    storage_secret_access_key: SecretStr | None = Field(None, description="Its secret.")
    storage_allow_http: bool = Field(False, description="Allow an http:// endpoint.")
    index_type: Literal[
        "auto", "flat", "ivf_flat", "ivf_sq8", "ivf_pq", "hnsw_flat", "hnsw_sq8"
    ] = Field("auto", description="'auto' picks by catalog size and index_memory_mib.")
    exact_max: int = Field(
        100_000, ge=0, description="Catalogs up to this many vectors are searched exactly."
    )
    index_memory_mib: int = Field(
        1024, ge=1, description="Memory the index's vectors may take before they are compressed."
    )
    nlist: int = Field(0, ge=0, description="IVF cells; 0 picks about sqrt(n).")
    nprobe: int = Field(0, ge=0, description="IVF cells searched per query; 0 picks nlist/64.")
    pq_m: int = Field(0, ge=0, description="PQ bytes per vector; 0 picks dim/8.")
    refine: int | None = Field(
        None, ge=0, description="Re-rank refine x k candidates on exact vectors; unset: auto."
    )
    index_pca: int = Field(0, ge=0, description="PCA to this many dimensions first; 0 = off.")
    train_sample: int = Field(
        65_536, ge=256, description="Vectors sampled to train IVF cells and codes."
    )
    use_gpu: Literal["auto", "never"] = Field(
        "auto", description="'auto' puts the FAISS index on the GPU when faiss sees one."
    )
    overfetch: int = Field(4, ge=1, description="First over-fetch factor for filtered search.")

    @field_validator("data_uri")
    @classmethod
    def _a_known_home(cls, uri: str | None) -> str | None:
        scheme = urlsplit(uri or "").scheme
        if uri and scheme not in ("", "file", *REMOTE_SCHEMES):
            raise ValueError(
                f"'{uri[:120]}' is neither a folder nor an s3://, gs:// or az:// prefix"
            )
        return uri
