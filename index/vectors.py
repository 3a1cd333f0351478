"""The FAISS index: inner product over unit vectors, with item ids mapped to int64 labels.

What kind of index it is comes from an `IndexPlan` (see `index.plan`): exact, IVF with raw,
8-bit or product-quantized codes, or HNSW, optionally behind a PCA. Compressed kinds can
re-rank their candidates against float16 copies on disk (`index.refine`), so the scores
they return are cosines like the exact index's.

GPU is a runtime choice: when faiss sees a GPU the index is cloned onto it; a kind the GPU
cannot hold stays on the CPU, saying so. Where an index cannot remove ids (GPU indexes,
HNSW), removals become tombstones that search skips and a save applies or carries.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any, cast

import numpy as np
import pyarrow as pa

from index.errors import IndexStoreError
from index.idmap import IdMap
from index.plan import IndexPlan
from index.refine import RefineStore
from index.threads import faiss_call

log = logging.getLogger(__name__)
GPU_MAX_K = 2048
ENCODER_SAMPLE = 8192  # codes (PQ, SQ) train well on far fewer vectors than IVF cells


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


def labels_of(item_ids: Sequence[str] | np.ndarray) -> np.ndarray:
    return np.fromiter((label_of(i) for i in item_ids), np.int64, len(item_ids))


def _hex_table() -> np.ndarray:
    """Byte -> hex digit value; 255 for bytes that are not hex digits."""
    table = np.full(256, 255, np.uint8)
    for value, char in enumerate("0123456789abcdef"):
        table[ord(char)] = table[ord(char.upper())] = value
    return table


_HEX = _hex_table()


def column_labels(item_ids: pa.Array) -> np.ndarray:
    """`labels_of` for an Arrow string array, in numpy: the hex digits are read straight
    from Arrow's buffers (a million in tens of milliseconds, not a second)."""
    n = len(item_ids)
    if n == 0:
        return np.zeros(0, np.int64)
    wide = pa.types.is_large_string(item_ids.type)
    if item_ids.null_count or not (wide or pa.types.is_string(item_ids.type)):
        return labels_of(item_ids.to_pylist())
    _, offsets_buf, data_buf = item_ids.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64 if wide else np.int32)
    offsets = offsets[item_ids.offset : item_ids.offset + n + 1]
    if int(np.diff(offsets).min()) < 15:
        return labels_of(item_ids.to_pylist())
    data = np.frombuffer(data_buf, np.uint8)
    widths = np.diff(offsets)
    if int(widths.min()) == int(widths.max()):  # equal lengths (hex digests): a strided view
        start, width = int(offsets[0]), int(widths[0])
        digits = _HEX[data[start : start + n * width].reshape(n, width)[:, :15]]
    else:
        digits = _HEX[data[np.add.outer(offsets[:-1], np.arange(15))]]
    if int(digits.max()) == 255:  # not hex: ids from elsewhere, the slow way
        return labels_of(item_ids.to_pylist())
    labels = np.zeros(n, np.int64)
    for k in range(15):  # one digit column at a time: no (n, 15) int64 temporary
        labels <<= 4
        labels |= digits[:, k]
    return labels


def new_faiss_index(dim: int, plan: IndexPlan) -> Any:
    import faiss

    index = faiss.index_factory(dim, plan.factory(), faiss.METRIC_INNER_PRODUCT)
    if faiss.try_extract_index_ivf(index) is None:
        index = faiss.IndexIDMap2(index)  # IVF indexes take ids themselves
    _apply_search_params(index, plan)
    return index


def _apply_search_params(index: Any, plan: IndexPlan) -> None:
    import faiss

    space = faiss.ParameterSpace()
    if plan.nprobe:
        space.set_index_parameter(index, "nprobe", plan.nprobe)
    if plan.kind.startswith("hnsw"):
        space.set_index_parameter(index, "efSearch", plan.ef_search)


def _train(index: Any, mat: np.ndarray) -> None:
    """Train transforms, IVF cells on the whole sample and codes on a part of it.

    FAISS trains the codes of an IVF-PQ on the same sample as its cells by default, which on
    2048-d vectors takes minutes; cells are trained first here, and the codes on fewer rows.
    """
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexPreTransform):
        chain: Any = index.chain  # a SWIG vector (size/at), which faiss's stub calls a list
        for n in range(chain.size()):
            transform = chain.at(n)
            transform.train(mat)
            mat = transform.apply(mat)
        _train(index.index, mat)
        index.is_trained = True
        return
    if isinstance(index, faiss.IndexIDMap):
        _train(index.index, mat)
        index.is_trained = True
        return
    found = faiss.try_extract_index_ivf(index)
    # the concrete IVF class (quantizer, nlist, pq...), which faiss's stub types as Index
    ivf: Any = faiss.downcast_index(found) if found is not None else None
    if isinstance(ivf, faiss.IndexIVFPQ):
        # polysemous codes serve Hamming-distance filtering, which search never asks for, and
        # their training (simulated annealing over 256 sub-quantizers) takes many minutes
        cast(Any, ivf).do_polysemous_training = False  # a flag faiss's stub lacks
        # codes train on ENCODER_SAMPLE rows on purpose (recall measured in bench scale);
        # FAISS would print a warning per sub-quantizer (256 lines) for fewer than 39 a centroid
        ivf.pq.cp.min_points_per_centroid = min(39, ENCODER_SAMPLE // ivf.pq.ksub)
    if ivf is not None and ivf.quantizer.ntotal == 0:
        clustering = faiss.Clustering(ivf.d, ivf.nlist)
        clustering.niter = 10
        clustering.max_points_per_centroid = max(1, len(mat) // ivf.nlist + 1)
        clustering.train(mat, ivf.quantizer)
        mat = mat[:ENCODER_SAMPLE]
    if not index.is_trained:
        index.train(mat)


class VectorIndex:
    metric = "inner_product"

    def __init__(
        self,
        dim: int,
        *,
        use_gpu: bool = False,
        plan: IndexPlan | None = None,
        index: Any = None,
        ids: Sequence[str] | np.ndarray = (),
        labels: np.ndarray | None = None,
        refine: RefineStore | None = None,
        tombstones: Sequence[int] = (),
    ) -> None:
        self.dim = dim
        self.plan = plan or IndexPlan()
        self.index_type = self.plan.kind
        cpu = index if index is not None else new_faiss_index(dim, self.plan)
        if labels is None:
            labels = labels_of(ids)
        self._ids = IdMap(labels, ids)
        self._tombstones: set[int] = set(tombstones)
        self.refine = refine if refine is not None else RefineStore(dim)
        self.on_gpu = False
        self._index = cpu
        if use_gpu:
            self._to_gpu(cpu)

    def _to_gpu(self, cpu: Any) -> None:
        import faiss

        if faiss.get_num_gpus() == 0:
            return
        options = faiss.GpuClonerOptions()
        # IVF-PQ codes wider than 64 bytes need float16 lookup tables on the GPU
        options.useFloat16 = self.plan.kind == "ivf_pq"
        try:
            self._gpu_res = faiss.StandardGpuResources()
            self._index = faiss.index_cpu_to_gpu(self._gpu_res, 0, cpu, options)
            self.on_gpu = True
        except RuntimeError as exc:  # e.g. HNSW, which FAISS has no GPU version of
            log.warning("the %s index stays on the CPU: %s", self.plan.describe(), exc)

    @classmethod
    def build(
        cls,
        dim: int,
        plan: IndexPlan,
        batches: Iterable[tuple[Sequence[str], Any]],
        *,
        sample: Callable[[], Any] | None = None,
        refine_path: Path | None = None,
        use_gpu: bool = False,
    ) -> VectorIndex:
        """Build in bulk on the CPU: train on `sample()` when the plan needs it, add every
        (ids, vectors) batch (re-ranking rows stream to `refine_path`), then move the index
        where it serves."""
        refine = RefineStore.building(dim, refine_path) if plan.refine and refine_path else None
        index = cls(dim, plan=plan, refine=refine)
        if plan.trained:
            if sample is None:
                raise IndexStoreError(f"A {plan.kind} index needs a sample to train on.")
            _train(index._index, as_matrix(sample(), dim))
        for ids, vectors in batches:
            index.add(ids, vectors)
        index.refine.finish()
        if use_gpu:
            index._to_gpu(index._index)
        return index

    @property
    def _removes_on_cpu(self) -> bool:
        """FAISS's HNSW cannot delete: its removals stay tombstones, even in a saved copy."""
        return not self.plan.kind.startswith("hnsw")

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: str) -> bool:
        return label_of(item_id) in self._ids

    def holds(self, labels: np.ndarray) -> np.ndarray:
        """A mask: which of these labels the index holds (removed ones it does not)."""
        return self._ids.contains(labels)

    def ids_not_in(self, labels: np.ndarray) -> list[str]:
        """The ids held whose labels are not among `labels`."""
        return self._ids.not_in(labels)

    @property
    def item_ids(self) -> list[str]:
        return self._ids.item_ids()

    def id_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, ids as ASCII bytes) of every item held, sorted by label. A save asks for
        them, and the map starts again from them: ids added since the load leave its dict."""
        labels, ids = self._ids.arrays()
        self._ids = IdMap(labels, ids)
        return labels, ids

    @property
    def tombstones(self) -> list[int]:
        return sorted(self._tombstones)

    def add(self, item_ids: Sequence[str], vectors: Any) -> None:
        mat = as_matrix(vectors, self.dim)
        if len(item_ids) != mat.shape[0]:
            raise IndexStoreError("add() needs one id per vector.")
        fresh = [(i, n) for n, i in enumerate(item_ids) if label_of(i) not in self._ids]
        if not fresh:
            return
        all_labels = [label_of(i) for i, _ in fresh]
        labels = np.array(all_labels, dtype=np.int64)
        rows = mat[[n for _, n in fresh]]
        again = self._tombstones.intersection(all_labels)
        if again:
            # a tombstoned label still sits in the index: drop the mark, not a second copy
            self._tombstones -= again
            keep = ~np.isin(labels, list(again))
            labels, rows = labels[keep], rows[keep]
        with faiss_call():
            self._index.add_with_ids(rows, labels)
        if self.plan.refine:
            self.refine.append(labels, rows)
        for (item_id, _), label in zip(fresh, all_labels, strict=True):
            self._ids.add(label, item_id)

    def remove(self, item_ids: Sequence[str]) -> None:
        labels = [label_of(i) for i in item_ids if label_of(i) in self._ids]
        if not labels:
            return
        if self.on_gpu or not self._removes_on_cpu:
            self._tombstones.update(labels)
        else:
            import faiss

            with faiss_call():
                self._index.remove_ids(faiss.IDSelectorBatch(np.array(labels, np.int64)))
        for label in labels:
            self._ids.remove(label)

    @property
    def approximate(self) -> bool:
        """Whether a search may leave out vectors (IVF cells not probed, an HNSW graph walk)."""
        return self.plan.kind != "flat"

    @contextlib.contextmanager
    def _everywhere(self, fetch: int) -> Iterator[None]:
        """Search every IVF cell (and walk the HNSW graph as wide as `fetch`) for as long as
        the block lasts: what a filter that matched too little of the probed part needs."""
        import faiss

        space = faiss.GpuParameterSpace() if self.on_gpu else faiss.ParameterSpace()
        if self.plan.nlist:
            space.set_index_parameter(self._index, "nprobe", self.plan.nlist)
        if self.plan.kind.startswith("hnsw"):
            space.set_index_parameter(self._index, "efSearch", max(self.plan.ef_search, fetch))
        try:
            yield
        finally:
            if self.plan.nprobe:
                space.set_index_parameter(self._index, "nprobe", self.plan.nprobe)
            if self.plan.kind.startswith("hnsw"):
                space.set_index_parameter(self._index, "efSearch", self.plan.ef_search)

    def search(
        self, queries: Any, k: int, exhaustive: bool = False
    ) -> list[list[tuple[str, float]]]:
        """Top-k (item id, cosine score) per query, best first. `exhaustive`: of every vector
        held, even on an approximate index (slower: every cell is searched)."""
        mat = as_matrix(queries, self.dim)
        if not len(self._ids) or k <= 0:
            return [[] for _ in range(mat.shape[0])]
        want = k * self.plan.refine if self.plan.refine else k
        total = len(self._ids) + len(self._tombstones)
        fetch = min(want + len(self._tombstones), total)
        if self.on_gpu:  # FAISS GPU indexes return at most GPU_MAX_K neighbours per query
            fetch = min(fetch, GPU_MAX_K)
        wide = self._everywhere(fetch) if exhaustive and self.approximate else nullcontext()
        with faiss_call(), wide:
            scores, labels = self._index.search(mat, fetch)
        out: list[list[tuple[str, float]]] = []
        for query, row_s, row_l in zip(mat, scores, labels, strict=True):
            keep = self._ids.contains(row_l)
            row_l, row_s = row_l[keep], row_s[keep]
            if self.plan.refine and len(row_l):
                row_s = self.refine.get(row_l) @ query
                order = np.argsort(-row_s, kind="stable")
                row_l, row_s = row_l[order], row_s[order]
            top = zip(self._ids.lookup(row_l[:k]), row_s[:k].tolist(), strict=True)
            out.append([(item_id, float(s)) for item_id, s in top])
        return out

    def to_cpu(self) -> Any:
        """A CPU copy for saving, with the tombstones a CPU index can apply applied."""
        import faiss

        if not self.on_gpu:
            return self._index
        cpu = faiss.index_gpu_to_cpu(self._index)
        if self._tombstones and self._removes_on_cpu:
            cpu.remove_ids(faiss.IDSelectorBatch(np.array(sorted(self._tombstones), np.int64)))
        return cpu

    def saved_tombstones(self) -> list[int]:
        """Tombstones a saved copy still needs (those `to_cpu` could not apply)."""
        return [] if self._removes_on_cpu else self.tombstones
