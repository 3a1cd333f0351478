"""Global pooling of a feature map into one vector per image."""

import torch
import torch.nn.functional as F
from torch import nn


class GeM(nn.Module):
    """Generalised mean pooling (Radenovic et al.): p=1 is average, large p tends to max.

    It weighs the strongest activations more than average pooling, which is what makes
    instance retrieval (this building, this product) work better from classification nets.
    """

    def __init__(self, p: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.p = p
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 1.0:
            return x.mean(dim=(-2, -1))
        pooled = F.avg_pool2d(x.float().clamp(min=self.eps).pow(self.p), x.shape[-2:])
        return pooled.pow(1.0 / self.p).flatten(1)


def make_pool(pooling: str, gem_p: float) -> nn.Module:
    return GeM(p=1.0 if pooling == "avg" else gem_p)
