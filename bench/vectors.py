"""Synthetic embeddings shaped like a real catalog's: clustered, low-rank, unit length.

Image embeddings are not uniform noise: products form groups (a thousand here), and within a
group they vary along few directions (a shared 64-dimensional subspace here), plus a little
noise in every dimension. Uniform random vectors would make every index look bad (no
structure to exploit) and a pure mixture of points would make every index look perfect.
Rows are generated in chunks from (seed, chunk number), so a million of them can be
streamed to disk without ever being held whole, and the same call gives the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

CHUNK = 10_000


def row_ids(start: int, count: int) -> list[str]:
    """Ids shaped like the catalog's (64 hex characters) whose FAISS label is the row number."""
    return [f"{n:015x}{0:049x}" for n in range(start, start + count)]


class ClusteredVectors:
    def __init__(self, dim: int, *, clusters: int = 1000, latent: int = 64, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.dim, self.latent, self.seed = dim, latent, seed
        self.centres = (rng.standard_normal((clusters, dim)) / np.sqrt(dim)).astype(np.float32)
        basis = np.linalg.qr(rng.standard_normal((dim, latent)))[0]
        self.basis = basis.T.astype(np.float32)  # (latent, dim), orthonormal rows

    def chunk(self, number: int, size: int = CHUNK) -> np.ndarray:
        rng = np.random.default_rng((self.seed, number))
        cluster = rng.integers(0, len(self.centres), size)
        within = rng.standard_normal((size, self.latent)).astype(np.float32)
        within *= 0.6 / np.sqrt(self.latent)
        noise = rng.standard_normal((size, self.dim)).astype(np.float32) * (
            0.25 / np.sqrt(self.dim)
        )
        x: np.ndarray = self.centres[cluster] + within @ self.basis + noise
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x

    def rows(self, count: int) -> Iterator[np.ndarray]:
        """`count` rows, in chunks of CHUNK."""
        for number, start in enumerate(range(0, count, CHUNK)):
            yield self.chunk(number, min(CHUNK, count - start))

    def matrix(self, count: int) -> np.ndarray:
        return np.concatenate(list(self.rows(count))) if count else np.zeros((0, self.dim))

    def queries(self, count: int) -> np.ndarray:
        """Held-out rows from the same distribution (a chunk number no catalog uses)."""
        return self.chunk(2**40, count)
