"""The FAISS index: inner product over unit vectors, with item ids mapped to int64 labels.

GPU is a runtime choice: when faiss sees a GPU the same index is cloned onto it. GPU flat
indexes cannot remove ids, so removals there become tombstones that search skips.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from index.errors import IndexStoreError

GPU_MAX_K = 2048


def as_matrix(x: Any, dim: int) -> np.ndarray:
    """Coerce any array-like into contiguous float32 (n, dim), once, at the boundary."""
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise IndexStoreError(f"Expected vectors of dimension {dim}, got shape {arr.shape}.")
    return arr


def label_of(item_id: str) -> int:
    """A stable int64 label from the item id (60 bits of its sha256: collisions are negligible)."""
    return int(item_id[:15], 16)


class VectorIndex:
    metric = "inner_product"

    def __init__(
        self, dim: int, *, use_gpu: bool = False, index: Any = None, ids: Sequence[str] = ()
    ) -> None:
        import faiss

        self.dim = dim
        self.index_type = "flat"
        cpu = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self._ids: dict[int, str] = {label_of(i): i for i in ids}
        self._tombstones: set[int] = set()
        self.on_gpu = bool(use_gpu and faiss.get_num_gpus() > 0)
        if self.on_gpu:
            self._gpu_res = faiss.StandardGpuResources()
            self._index = faiss.index_cpu_to_gpu(self._gpu_res, 0, cpu)
        else:
            self._index = cpu

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: str) -> bool:
        return label_of(item_id) in self._ids

    @property
    def item_ids(self) -> list[str]:
        return list(self._ids.values())

    def add(self, item_ids: Sequence[str], vectors: Any) -> None:
        mat = as_matrix(vectors, self.dim)
        if len(item_ids) != mat.shape[0]:
            raise IndexStoreError("add() needs one id per vector.")
        fresh = [(i, n) for n, i in enumerate(item_ids) if label_of(i) not in self._ids]
        if not fresh:
            return
        labels = np.array([label_of(i) for i, _ in fresh], dtype=np.int64)
        rows = mat[[n for _, n in fresh]]
        self._index.add_with_ids(rows, labels)
        for (item_id, _), label in zip(fresh, labels.tolist(), strict=True):
            self._ids[label] = item_id
            self._tombstones.discard(label)

    def remove(self, item_ids: Sequence[str]) -> None:
        labels = [label_of(i) for i in item_ids if label_of(i) in self._ids]
        if not labels:
            return
        if self.on_gpu:
            self._tombstones.update(labels)
        else:
            import faiss

            self._index.remove_ids(faiss.IDSelectorBatch(np.array(labels, dtype=np.int64)))
        for label in labels:
            del self._ids[label]

    def search(self, queries: Any, k: int) -> list[list[tuple[str, float]]]:
        """Top-k (item id, cosine score) per query, best first."""
        mat = as_matrix(queries, self.dim)
        if not self._ids or k <= 0:
            return [[] for _ in range(mat.shape[0])]
        fetch = min(k + len(self._tombstones), len(self._ids) + len(self._tombstones))
        if self.on_gpu:  # FAISS GPU indexes return at most GPU_MAX_K neighbours per query
            fetch = min(fetch, GPU_MAX_K)
        scores, labels = self._index.search(mat, fetch)
        out: list[list[tuple[str, float]]] = []
        for row_s, row_l in zip(scores, labels, strict=True):
            hits = [
                (self._ids[label], float(s))
                for s, label in zip(row_s.tolist(), row_l.tolist(), strict=True)
                if label >= 0 and label in self._ids
            ]
            out.append(hits[:k])
        return out

    def to_cpu(self) -> Any:
        """A CPU copy with tombstones applied, for saving."""
        import faiss

        if not self.on_gpu:
            return self._index
        cpu = faiss.index_gpu_to_cpu(self._index)
        if self._tombstones:
            cpu.remove_ids(faiss.IDSelectorBatch(np.array(sorted(self._tombstones), np.int64)))
        return cpu
