"""Model ids: one string that names backbone, weights, pooling and dimension.

`resnet50.imagenet1k_v2.gem.2048` is what every stored vector carries, so vectors of two
models can never be mixed by accident.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from embedder.errors import UnknownModelError


class ModelSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    backbone: str
    weights: str  # tag: "none", "imagenet1k_v2", "imagenet", "file-<sha>", ...
    pooling: str  # "avg", "gem" (p=3) or "gem-p<p>"
    dim: int

    @property
    def id(self) -> str:
        return f"{self.backbone}.{self.weights}.{self.pooling}.{self.dim}"

    @classmethod
    def parse(cls, model_id: str) -> ModelSpec:
        parts = model_id.split(".")
        if len(parts) < 4 or not parts[-1].isdigit():
            raise UnknownModelError(
                f"'{model_id}' is not a model id; expected backbone.weights.pooling.dim, "
                "for example resnet50.imagenet1k_v2.gem.2048."
            )
        # The pooling tag may hold a dot (gem-p2.5), so split from both ends.
        return cls(
            backbone=parts[0],
            weights=parts[1],
            pooling=".".join(parts[2:-1]),
            dim=int(parts[-1]),
        )


def pooling_tag(pooling: str, gem_p: float, input_size: int | None = None) -> str:
    """The pooling part of a model id; a whole-image input size rides along (`gem-s448`), as
    it changes every vector just as the pooling does."""
    if pooling == "avg" or gem_p == 1.0:
        tag = "avg"
    else:
        tag = "gem" if gem_p == 3.0 else f"gem-p{gem_p:g}"
    return tag if input_size is None else f"{tag}-s{input_size}"
