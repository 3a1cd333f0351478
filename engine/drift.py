"""Drift: do recent uploads look like the catalog? A new camera, a new crop or a broken
upstream resize shows up here before users notice worse results.

Recent items (the newest N with vectors) are compared with the rest of the catalog:
- mean shift: 1 - cosine between the two sets' mean vectors;
- concentration: the norm of each set's mean unit vector (1 = all alike, 0 = spread out);
- nearest-neighbour similarity: how close each recent item gets to the older catalog,
  against how close older items get to each other, and the Kolmogorov-Smirnov distance
  between those two distributions (0 = same shape, 1 = disjoint).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

from engine.engine import Engine
from engine.errors import ConflictError

SAMPLE = 5000
KS_ALERT = 0.3
SHIFT_ALERT = 0.05


class DriftReport(BaseModel):
    model_id: str
    recent: int
    reference: int
    mean_shift: float
    concentration_recent: float
    concentration_reference: float
    nn_similarity_recent: float  # median
    nn_similarity_reference: float  # median
    ks_distance: float
    drifted: bool
    summary: str


def _nearest(queries: np.ndarray, base: np.ndarray, same: bool) -> np.ndarray:
    sims = queries @ base.T
    if same:
        np.fill_diagonal(sims, -np.inf)  # an item is not its own neighbour
    best: np.ndarray = sims.max(axis=1)
    return best


def measure_drift(engine: Engine, recent: int = 500) -> DriftReport:
    catalog = engine.active_catalog()
    ids = engine.store.ids_by_age(status="embedded")  # two columns, not every row
    if len(ids) < recent + 20:
        raise ConflictError(
            f"Drift needs at least {recent + 20} embedded items ({len(ids)} now): "
            f"{recent} recent ones and 20 to compare them with; pass a smaller --recent."
        )
    rng = np.random.default_rng(0)
    newest = ids[len(ids) - recent :].to_pylist()
    older_count = len(ids) - recent
    if older_count > SAMPLE:  # the vectors read are a sample's, whatever the catalog's size
        older = ids.take(rng.choice(older_count, SAMPLE, replace=False)).to_pylist()
    else:
        older = ids[:older_count].to_pylist()
    _, new_vecs = engine.store.read_vectors(catalog.model_id, catalog.dim, newest)
    _, old_vecs = engine.store.read_vectors(catalog.model_id, catalog.dim, older)
    mean_new, mean_old = new_vecs.mean(axis=0), old_vecs.mean(axis=0)
    shift = 1.0 - float(
        mean_new @ mean_old / (np.linalg.norm(mean_new) * np.linalg.norm(mean_old) + 1e-12)
    )
    nn_new = _nearest(new_vecs, old_vecs, same=False)
    nn_old = _nearest(old_vecs, old_vecs, same=True)
    from scipy.stats import ks_2samp  # here: scipy.stats costs 0.6 s of every server start

    ks = float(ks_2samp(nn_new, nn_old).statistic)
    drifted = ks > KS_ALERT or shift > SHIFT_ALERT
    summary = (
        f"recent uploads differ from the catalog (KS {ks:.2f}, mean shift {shift:.3f}): "
        "check the camera, crops or resizing upstream"
        if drifted
        else f"recent uploads look like the catalog (KS {ks:.2f}, mean shift {shift:.3f})"
    )
    return DriftReport(
        model_id=catalog.model_id,
        recent=len(new_vecs),
        reference=len(old_vecs),
        mean_shift=round(shift, 5),
        concentration_recent=round(float(np.linalg.norm(mean_new)), 4),
        concentration_reference=round(float(np.linalg.norm(mean_old)), 4),
        nn_similarity_recent=round(float(np.median(nn_new)), 4),
        nn_similarity_reference=round(float(np.median(nn_old)), 4),
        ks_distance=round(ks, 4),
        drifted=drifted,
        summary=summary,
    )
