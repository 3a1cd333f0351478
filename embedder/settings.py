"""Embedder settings, read from the environment with the LOOKALIKE_ prefix."""

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from embedder.registry import list_backbones


class EmbedderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOOKALIKE_", extra="ignore")

    model: str = Field(
        "resnet50",
        description="A registered backbone (embedder/registry.py), e.g. resnet50 or "
        "efficientnet_lite0.",
    )
    weights: str = Field(
        "default",
        description="'default' (the backbone's pretrained weights), a torchvision weights name "
        "such as imagenet1k_v1, a path to a state-dict file, or 'none' for random init.",
    )
    pooling: Literal["gem", "avg"] = "gem"
    gem_p: float = Field(3.0, gt=0, le=10, description="GeM exponent; 1 is average pooling.")
    input_size: int | None = Field(
        None,
        ge=64,
        le=2048,
        description="Embed the whole image, longer side resized to this, aspect kept (better "
        "for retrieval than the classifier's centre crop; 448 is a good start). Unset: the "
        "backbone's own transform.",
    )
    whiten: str | None = Field(
        None,
        description="Path of a projection learned by `lookalike whiten` (PCA-whitening), "
        "applied after pooling, or catalog:KEY for one kept in the catalog; its hash is part "
        "of the model id.",
    )
    device: str = Field(
        "auto", description="'auto' (CUDA when present), 'cpu', 'cuda' or 'cuda:N'."
    )
    batch_size: int | None = Field(
        None,
        ge=1,
        le=4096,
        description="Images per forward pass when embedding a catalog. Unset: 8 on the CPU "
        "(larger batches spill the caches: on 2 cores, 32 ran 10 to 33% slower than 8 for "
        "every backbone), 128 on a GPU.",
    )
    torch_compile: bool = Field(
        False,
        description="torch.compile the network: each new batch shape compiles once (seconds "
        "to minutes), then runs faster; worth it for long GPU ingests.",
    )
    allow_download: bool = Field(True, description="Try downloading weights when not cached.")
    max_pixels: int = Field(50_000_000, ge=1, description="Decompression-bomb guard.")
    max_aspect_ratio: float = Field(50.0, ge=1, description="Longer side / shorter side cap.")

    @field_validator("model")
    @classmethod
    def _registered(cls, name: str) -> str:
        if name not in list_backbones():
            raise ValueError(
                f"unknown backbone '{name}'; choose one of {', '.join(list_backbones())}"
            )
        return name
