"""Calibrated similarity: a score in [0, 1] that means the same for every model.

Raw cosine scores live on each model's own scale: two unrelated photos score 0.2 with one
network and 0.9 with another (random weights put every image close together). So a score is
placed between two anchors measured on the catalog itself:

    similarity = clip((cosine - floor) / (1 - floor), 0, 1)

where `floor` is the 95th percentile of the cosine between random pairs of catalog items
(the 95th, not the 99th: near duplicates, a percent of the pairs in some catalogs, must not
move the anchor).
0 means "no closer than unrelated items usually are", 1 means "the same picture". A threshold
chosen on these numbers (near duplicates start at 0.6) survives a reindex to another
model, because both anchors move with the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE = 1000
PERCENTILE = 95.0


@dataclass(frozen=True)
class Calibration:
    floor: float
    sample: int

    def similarity(self, cosine: float | np.ndarray) -> float | np.ndarray:
        value = np.clip((np.asarray(cosine) - self.floor) / max(1e-6, 1.0 - self.floor), 0, 1)
        return float(value) if np.ndim(value) == 0 else value


def calibrate(vectors: np.ndarray, seed: int = 0) -> Calibration:
    """The anchors from (a random sample of) a catalog's unit vectors."""
    if len(vectors) < 3:
        return Calibration(floor=0.0, sample=len(vectors))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(vectors), size=min(SAMPLE, len(vectors)), replace=False)
    sample = vectors[pick]
    sims = sample @ sample.T
    off_diagonal = sims[~np.eye(len(sample), dtype=bool)]
    floor = float(np.percentile(off_diagonal, PERCENTILE))
    return Calibration(floor=min(floor, 0.999), sample=len(sample))
