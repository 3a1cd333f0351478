"""Index and storage settings, read from the environment with the LOOKALIKE_ prefix."""

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    data_dir: Path = Field(Path("lookalike-data"), description="LanceDB, blobs and FAISS files.")
    index_type: Literal["flat"] = "flat"
    use_gpu: Literal["auto", "never"] = Field(
        "auto", description="'auto' puts the FAISS index on the GPU when faiss sees one."
    )
    overfetch: int = Field(4, ge=1, description="First over-fetch factor for filtered search.")
