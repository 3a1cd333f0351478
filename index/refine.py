"""Float16 copies of the vectors on disk, for re-ranking a compressed index's candidates.

A product-quantized index keeps a few bytes a vector in memory and ranks roughly; re-ranking
its top `refine x k` against near-exact vectors restores the order. Those vectors stay on
disk (a million 2048-d vectors are 4 GiB in float16) and are read row by row with pread, so
they cost page cache, not process memory. Vectors added after the file was written wait in
memory until the next save writes a new file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

FILE = "refine.f16"
LABELS = "refine_labels.npy"
_COPY_ROWS = 16_384


def _member(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """values in sorted_set, by binary search (np.isin would sort the set on every call)."""
    if not len(sorted_set):
        return np.zeros(len(values), bool)
    pos = np.searchsorted(sorted_set, values).clip(0, len(sorted_set) - 1)
    found: np.ndarray = sorted_set[pos] == values
    return found


class RefineStore:
    def __init__(self, dim: int, path: Path | None = None, labels: np.ndarray | None = None):
        self.dim = dim
        self.row_bytes = dim * 2
        self.path = path
        self.labels = labels if labels is not None else np.zeros(0, np.int64)
        self._order = np.argsort(self.labels, kind="stable")
        self._sorted = self.labels[self._order]
        self._fd = os.open(path, os.O_RDONLY) if path is not None else None
        self.extra: dict[int, np.ndarray] = {}
        self._writer: BinaryIO | None = None
        self._written: list[np.ndarray] = []

    # ---- building: rows streamed to a file as a rebuild reads LanceDB ------------------
    @classmethod
    def building(cls, dim: int, path: Path) -> RefineStore:
        store = cls(dim)
        store.path = path
        store._writer = path.open("wb")
        return store

    def append(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Add rows: streamed to the file while building, held in memory afterwards."""
        half = np.asarray(vectors, dtype=np.float16)
        if self._writer is not None:
            self._writer.write(np.ascontiguousarray(half).tobytes())
            self._written.append(np.asarray(labels, np.int64))
            return
        for label, row in zip(labels.tolist(), half, strict=True):
            self.extra[label] = row

    def finish(self) -> None:
        """Close the file being built and open it for reading."""
        if self._writer is None:
            return
        self._writer.flush()
        os.fsync(self._writer.fileno())
        self._writer.close()
        self._writer = None
        labels = np.concatenate(self._written) if self._written else np.zeros(0, np.int64)
        self._written = []
        self._take(RefineStore(self.dim, self.path, labels))

    # ---- reading ------------------------------------------------------------------------
    def _rows(self, labels: np.ndarray) -> np.ndarray:
        """File row of each label, -1 where the file does not hold it."""
        if not len(self._sorted):
            return np.full(len(labels), -1, np.int64)
        pos = np.searchsorted(self._sorted, labels).clip(0, len(self._sorted) - 1)
        return np.where(self._sorted[pos] == labels, self._order[pos], -1)

    def get(self, labels: np.ndarray) -> np.ndarray:
        """float32 (len(labels), dim); rows this store does not hold are zeros."""
        out = np.zeros((len(labels), self.dim), np.float32)
        rows = self._rows(np.asarray(labels, np.int64))
        for n, (label, row) in enumerate(zip(labels.tolist(), rows.tolist(), strict=True)):
            held = self.extra.get(label)
            if held is not None:
                out[n] = held
            elif row >= 0 and self._fd is not None:
                raw = os.pread(self._fd, self.row_bytes, row * self.row_bytes)
                out[n] = np.frombuffer(raw, np.float16)
        return out

    # ---- saving -------------------------------------------------------------------------
    def save(self, folder: Path, keep: np.ndarray) -> None:
        """Write the rows of the labels in `keep` into `folder`; link the file when unchanged."""
        keep_arr = np.asarray(keep, np.int64)
        target = folder / FILE
        source = self.path
        unchanged = not self.extra and source is not None and len(keep_arr) == len(self.labels)
        if source is not None and unchanged and np.array_equal(np.sort(keep_arr), self._sorted):
            try:
                os.link(source, target)  # the new index shares the file
                np.save(folder / LABELS, self.labels)
                return
            except OSError:  # gone from its folder (another process cleaned up): copy it
                pass
        # Copy the kept rows of the old file in large sequential reads, then the rows held in
        # memory: a million rows take seconds, not a million small reads.
        keep_sorted = np.sort(keep_arr)
        extra = np.sort(np.fromiter(self.extra, np.int64, len(self.extra)))
        held = extra[_member(extra, keep_sorted)]
        from_file: list[np.ndarray] = []
        with target.open("wb") as fh:
            if self._fd is not None:
                for start in range(0, len(self.labels), _COPY_ROWS):
                    labels = self.labels[start : start + _COPY_ROWS]
                    size, offset = len(labels) * self.row_bytes, start * self.row_bytes
                    rows = np.frombuffer(os.pread(self._fd, size, offset), np.float16)
                    take = _member(labels, keep_sorted) & ~_member(labels, extra)
                    fh.write(rows.reshape(len(labels), self.dim)[take].tobytes())
                    from_file.append(labels[take])
            if len(held):
                fh.write(np.stack([self.extra[label] for label in held.tolist()]).tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        np.save(folder / LABELS, np.concatenate([*from_file, held]))

    def reopen(self, folder: Path) -> None:
        """Point at the file a save just wrote; the rows held in memory are now in it."""
        self.close()
        self._take(RefineStore.open(folder, self.dim))

    def _take(self, other: RefineStore) -> None:
        """Become `other` (its open file included) in place: the index holds this object."""
        self.__dict__.update(other.__dict__)
        other._fd = None

    @classmethod
    def open(cls, folder: Path, dim: int) -> RefineStore:
        return cls(dim, folder / FILE, np.load(folder / LABELS))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self.close()
