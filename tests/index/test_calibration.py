"""The calibrated similarity: 0 at the catalog's unrelated-pair level, 1 for the same vector,
whatever the model's own scale."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from index import Catalog, IndexSettings, Store, calibrate
from tests.index.helpers import ids, items


def _catalog(spread: float, n: int = 400, dim: int = 64) -> np.ndarray:
    """Unit vectors around a common direction: small spread = every cosine is high."""
    rng = np.random.default_rng(1)
    x = np.ones(dim) + spread * rng.standard_normal((n, dim))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_two_scales_map_to_the_same_meaning() -> None:
    tight, loose = _catalog(0.3), _catalog(3.0)
    cal_tight, cal_loose = calibrate(tight), calibrate(loose)
    assert cal_tight.floor > 0.8 > 0.3 > cal_loose.floor  # raw scales differ widely
    for cal, vecs in ((cal_tight, tight), (cal_loose, loose)):
        sims = vecs @ vecs.T
        unrelated = np.median(sims[~np.eye(len(vecs), dtype=bool)])
        assert cal.similarity(1.0) == 1.0
        assert cal.similarity(unrelated) == 0.0  # a typical unrelated pair is 0 on both
        assert 0.0 <= cal.similarity(sims[0, 1]) <= 1.0


def test_tiny_catalogs_fall_back_to_raw_cosine_clipped() -> None:
    cal = calibrate(np.eye(2, dtype=np.float32))
    assert cal.floor == 0.0 and cal.similarity(0.7) == 0.7 and cal.similarity(-0.2) == 0.0


def test_a_catalog_filled_one_item_at_a_time_is_calibrated_on_what_it_holds(
    tmp_path: Path,
) -> None:
    """Measured on its first item, the floor was 0 and stayed so until the catalog had
    grown by ten: every pair of a small catalog then read as a near duplicate."""
    store = Store(tmp_path)
    catalog = Catalog(store, "m.none.gem.16", 16, IndexSettings(data_dir=tmp_path, use_gpu="never"))
    names, vectors = ids(8), _catalog(0.3, n=8, dim=16).astype(np.float32)
    store.register_items(items(names))
    for n in range(8):
        catalog.add(names[n : n + 1], vectors[n : n + 1])
        catalog.calibration()  # as an upload's near-duplicate check asks, after each one
    assert catalog.calibration().floor == calibrate(vectors).floor > 0.5
