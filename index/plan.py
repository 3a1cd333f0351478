"""Which FAISS index a catalog gets, chosen from its size and a memory budget.

Small catalogs are searched exactly. Past `exact_max` vectors an inverted file (IVF) takes
over; what each vector costs in memory decides its codes: raw floats while they fit the
budget, 8-bit scalar codes (a quarter) next, product-quantizer codes (dim/8 bytes) beyond,
with the candidates re-ranked against float16 copies kept on disk so that the compressed
codes cost little recall. Every choice can be overridden by settings; the plan is recorded
in the index manifest, so a saved index is loaded with the parameters it was built with.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field

from index.settings import IndexSettings

MIN_TRAIN = 1024  # fewer vectors than this are searched exactly whatever the settings say
IndexKind = Literal["flat", "ivf_flat", "ivf_sq8", "ivf_pq", "hnsw_flat", "hnsw_sq8"]


class IndexPlan(BaseModel):
    kind: IndexKind = "flat"
    nlist: int = Field(0, description="IVF cells (0 for non-IVF kinds).")
    nprobe: int = Field(0, description="IVF cells visited per query.")
    pq_m: int = Field(0, description="Product-quantizer sub-vectors (bytes per vector).")
    hnsw_m: int = Field(32, description="HNSW neighbours per node.")
    ef_search: int = Field(128, description="HNSW candidate list length per query.")
    refine: int = Field(0, description="Re-rank refine x k candidates exactly (0 = off).")
    pca: int = Field(0, description="PCA to this many dimensions before indexing (0 = off).")

    @property
    def trained(self) -> bool:
        """Whether the index must be trained on a sample before vectors go in."""
        return self.kind.startswith("ivf") or self.kind == "hnsw_sq8" or self.pca > 0

    def factory(self) -> str:
        """The FAISS index_factory string (ids are attached by the caller where needed)."""
        body = {
            "flat": "Flat",
            "ivf_flat": f"IVF{self.nlist},Flat",
            "ivf_sq8": f"IVF{self.nlist},SQ8",
            "ivf_pq": f"IVF{self.nlist},PQ{self.pq_m}",
            "hnsw_flat": f"HNSW{self.hnsw_m}",
            "hnsw_sq8": f"HNSW{self.hnsw_m},SQ8",
        }[self.kind]
        return f"PCA{self.pca},{body}" if self.pca else body

    def describe(self) -> str:
        parts: list[str] = [self.kind]
        if self.nlist:
            parts.append(f"nlist={self.nlist} nprobe={self.nprobe}")
        if self.pq_m:
            parts.append(f"m={self.pq_m}")
        if self.kind.startswith("hnsw"):
            parts.append(f"M={self.hnsw_m} ef={self.ef_search}")
        if self.pca:
            parts.append(f"pca={self.pca}")
        if self.refine:
            parts.append(f"refine={self.refine}x")
        return " ".join(parts)


def _nlist(count: int) -> int:
    # About sqrt(n) cells, a power of two: ~1,000 vectors a cell keeps training and assigning
    # affordable on a few CPU cores; 64 cells at least so nprobe has room to trade.
    cells: int = 2 ** round(math.log2(max(1.0, math.sqrt(count))))
    return max(64, cells)


def _pq_m(dim: int) -> int:
    """dim/8 sub-vectors of 8 dimensions, a divisor of dim (FAISS needs one)."""
    m = max(1, dim // 8)
    while dim % m:
        m -= 1
    return m


def choose_plan(count: int, dim: int, settings: IndexSettings) -> IndexPlan:
    """The plan for a catalog of `count` vectors of `dim` dimensions under `settings`."""
    kind = settings.index_type
    pca = settings.index_pca if settings.index_pca and settings.index_pca < dim else 0
    width = pca or dim
    budget = settings.index_memory_mib * 2**20
    if kind == "auto":
        if count <= settings.exact_max and not pca:
            kind = "flat"
        elif count * width * 4 <= budget:
            kind = "ivf_flat"
        elif count * width <= budget:
            kind = "ivf_sq8"
        else:
            kind = "ivf_pq"
    if kind != "flat" and count < MIN_TRAIN:
        kind, pca = "flat", 0  # too few vectors to train on; exact search is cheap anyway
    plan = IndexPlan(kind=kind, pca=pca)
    if kind.startswith("ivf"):
        # at least 16 vectors a cell, or k-means has nothing to learn from
        nlist = max(1, min(settings.nlist or _nlist(count), count // 16))
        plan.nlist = nlist
        plan.nprobe = settings.nprobe or max(8, nlist // 64)
    if kind == "ivf_pq":
        plan.pq_m = settings.pq_m or _pq_m(width)
        plan.refine = 4 if settings.refine is None else settings.refine
    elif settings.refine is not None:
        plan.refine = settings.refine
    elif pca:
        plan.refine = 4  # PCA drops dimensions; re-ranking on the full vectors wins them back
    return plan


def still_fits(plan: IndexPlan, count: int, dim: int, settings: IndexSettings) -> bool:
    """Whether an index built with `plan` still suits a catalog of `count` vectors.

    Only a change of kind asks for a rebuild, with slack both ways so a catalog hovering
    near a threshold is not rebuilt back and forth; an explicit setting is always honoured.
    """
    wanted = choose_plan(count, dim, settings)
    if plan.kind == wanted.kind and plan.pca == wanted.pca:
        # cells trained for a catalog 64 times smaller are too coarse to probe well
        return not plan.nlist or plan.nlist * 8 >= wanted.nlist
    if settings.index_type != "auto":
        return False
    if plan.kind == "flat":  # exact search stays until the catalog is twice the threshold
        return count <= 2 * settings.exact_max
    if wanted.kind == "flat":  # an index stays until the catalog is half the threshold
        return count >= settings.exact_max // 2
    return False
