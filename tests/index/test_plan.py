"""Index kinds chosen by catalog size: the choice, recall against exact search, persistence,
deletes, and the switch when a served catalog outgrows exact search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.vectors import ClusteredVectors
from index import Catalog, IndexSettings, Store, VectorIndex, read_manifest
from index.plan import MIN_TRAIN, IndexPlan, choose_plan, still_fits
from tests.index.helpers import ids, items

DIM = 64


def settings(tmp_path: Path, **over: object) -> IndexSettings:
    return IndexSettings(data_dir=tmp_path, use_gpu="never", **over)  # type: ignore[arg-type]


def test_choice_follows_size_and_memory_budget(tmp_path: Path) -> None:
    s = settings(tmp_path, exact_max=100_000, index_memory_mib=1024)
    assert choose_plan(50_000, 2048, s).kind == "flat"
    assert choose_plan(120_000, 512, s).kind == "ivf_flat"  # 234 MiB of floats fits
    assert choose_plan(400_000, 2048, s).kind == "ivf_sq8"  # 3.1 GiB of floats, 781 MiB of codes
    big = choose_plan(1_000_000, 2048, s)
    assert (big.kind, big.pq_m, big.nlist, big.nprobe, big.refine) == ("ivf_pq", 256, 1024, 16, 4)
    assert big.factory() == "IVF1024,PQ256"


def test_settings_override_the_choice(tmp_path: Path) -> None:
    s = settings(tmp_path, index_type="ivf_sq8", nlist=256, nprobe=32, index_pca=128)
    plan = choose_plan(50_000, 512, s)
    assert (plan.kind, plan.nlist, plan.nprobe, plan.pca) == ("ivf_sq8", 256, 32, 128)
    assert plan.factory() == "PCA128,IVF256,SQ8" and plan.refine == 4
    # too few vectors to train on: exact, whatever was asked
    assert choose_plan(MIN_TRAIN - 1, 512, s).kind == "flat"


def test_a_catalog_hovering_at_the_threshold_is_not_rebuilt_back_and_forth(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path, exact_max=10_000)
    flat, ivf = choose_plan(9_000, DIM, s), choose_plan(12_000, DIM, s)
    assert (flat.kind, ivf.kind) == ("flat", "ivf_flat")
    assert still_fits(flat, 15_000, DIM, s) and not still_fits(flat, 25_000, DIM, s)
    assert still_fits(ivf, 8_000, DIM, s) and not still_fits(ivf, 4_000, DIM, s)
    assert not still_fits(flat, 9_000, DIM, settings(tmp_path, index_type="ivf_pq"))


def _built(
    tmp_path: Path, plan: IndexPlan, use_gpu: bool = False
) -> tuple[VectorIndex, np.ndarray, np.ndarray, list[str], float]:
    """3,000 clustered vectors indexed by `plan`: the index, data, queries, ids, recall@10."""
    gen = ClusteredVectors(DIM, clusters=20, latent=8)
    data, queries = gen.matrix(3000), gen.queries(20)
    some = ids(3000)
    index = VectorIndex.build(
        DIM,
        plan,
        [(some, data)],
        sample=lambda: data,
        refine_path=tmp_path / ".build-x.f16",
        use_gpu=use_gpu,
    )
    truth = [set(np.argsort(-(data @ q))[:10].tolist()) for q in queries]
    found = [{some.index(i) for i, _ in row} for row in index.search(queries, 10)]
    recall = float(np.mean([len(f & t) / 10 for f, t in zip(found, truth, strict=True)]))
    return index, data, queries, some, recall


@pytest.mark.parametrize(
    "plan",
    [
        IndexPlan(kind="ivf_flat", nlist=32, nprobe=8),
        IndexPlan(kind="ivf_sq8", nlist=32, nprobe=8),
        IndexPlan(kind="ivf_pq", nlist=32, nprobe=8, pq_m=8, refine=4),
        IndexPlan(kind="hnsw_flat", hnsw_m=16, ef_search=64),
        IndexPlan(kind="hnsw_sq8", hnsw_m=16, ef_search=64),
        IndexPlan(kind="ivf_sq8", nlist=32, nprobe=8, pca=32, refine=4),
    ],
    ids=lambda p: p.describe(),
)
def test_each_kind_finds_the_exact_neighbours_and_survives_deletes_and_a_reload(
    tmp_path: Path, plan: IndexPlan
) -> None:
    from index import Manifest, load_index, save_index

    index, data, queries, some, recall = _built(tmp_path, plan)
    assert recall >= 0.8, f"{plan.describe()}: recall@10 {recall:.2f}"
    if plan.refine:  # re-ranked on the stored vectors: scores are the cosines themselves
        item, score = index.search(queries[:1], 1)[0][0]
        assert score == pytest.approx(float(data[some.index(item)] @ queries[0]), abs=2e-3)

    gone = [i for i, _ in index.search(queries[:1], 5)[0]]
    index.remove(gone)
    index.add(ids(1, "late"), queries[1:2])  # after the build: held in memory until saved
    manifest = Manifest(model_id="m", dim=DIM, lance_version=1, count=len(index), plan=plan)
    save_index(tmp_path / "idx", index, manifest)
    loaded, _ = load_index(tmp_path / "idx", use_gpu=False)
    assert len(loaded) == 3000 - 5 + 1 and loaded.plan == plan
    assert not {i for i, _ in loaded.search(queries[:1], 10)[0]} & set(gone)
    assert loaded.search(queries[1:2], 1)[0][0][0] == ids(1, "late")[0]
    # a second round on the loaded index: its rows now come from the saved file
    loaded.remove(ids(1, "late"))
    loaded.add(ids(1, "later"), queries[2:3])
    save_index(tmp_path / "idx", loaded, manifest.model_copy(update={"count": len(loaded)}))
    again, _ = load_index(tmp_path / "idx", use_gpu=False)
    assert len(again) == 3000 - 5 + 1
    assert again.search(queries[2:3], 1)[0][0][0] == ids(1, "later")[0]
    still = next(n for n in range(100, 3000) if some[n] not in gone)
    assert again.search(data[still], 1)[0][0][0] == some[still]


def test_catalog_growing_past_exact_search_is_rebuilt_and_loads_as_such(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "lancedb")
    # PQ asked for: a catalog too small to train on is searched exactly until it grows
    s = settings(tmp_path, index_type="ivf_pq", pq_m=8)
    gen = ClusteredVectors(DIM, clusters=20, latent=8)
    catalog = Catalog(store, "toy.none.gem.64", DIM, s)
    first, vecs = ids(3000), gen.matrix(3000)
    store.register_items(items(first[:500]))
    catalog.add(first[:500], vecs[:500])
    assert catalog.index.index_type == "flat" and not catalog.replan()
    store.register_items(items(first[500:]))
    catalog.add(first[500:], vecs[500:])  # served exact until the background check runs
    assert catalog.index.index_type == "flat"
    assert catalog.replan()
    assert catalog.index.plan.kind == "ivf_pq" and len(catalog.index) == 3000
    hit = catalog.search(vecs[7], 1)[0][0]
    assert hit.item.id == first[7] and hit.score == pytest.approx(1.0, abs=2e-3)
    catalog.save()
    assert read_manifest(catalog.index_dir).plan == catalog.index.plan  # type: ignore[union-attr]
    again = Catalog(store, "toy.none.gem.64", DIM, s)
    assert again.loaded_from == "disk" and again.index.plan.kind == "ivf_pq"
    assert again.search(vecs[7], 1)[0][0].item.id == first[7]
    # the refine file of the build now lives in the saved folder only
    assert not [p for p in catalog.index_dir.iterdir() if p.name.startswith(".build-")]


def _faiss_gpus() -> int:
    import faiss

    return faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0


@pytest.mark.gpu
@pytest.mark.skipif(_faiss_gpus() == 0, reason="needs faiss-gpu and a GPU")
@pytest.mark.parametrize(
    "plan",
    [
        IndexPlan(kind="ivf_pq", nlist=32, nprobe=8, pq_m=16, refine=4),
        IndexPlan(kind="ivf_sq8", nlist=32, nprobe=8),
    ],
    ids=lambda p: p.kind,
)
def test_compressed_kinds_serve_from_the_gpu(tmp_path: Path, plan: IndexPlan) -> None:
    index, data, _, some, recall = _built(tmp_path, plan, use_gpu=True)
    assert index.on_gpu and recall >= 0.8
    index.remove(some[:5])
    assert not {i for i, _ in index.search(data[:5], 10)[0]} & set(some[:5])


def test_training_codes_on_the_encoder_sample_prints_no_warnings(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """FAISS warns once per sub-quantizer (hundreds of lines at 2048-d) when codes train on
    fewer than 39 rows a centroid; the encoder sample is that small on purpose."""
    gen = ClusteredVectors(DIM, clusters=20, latent=8)
    sample = gen.matrix(9000)
    plan = IndexPlan(kind="ivf_pq", nlist=16, nprobe=4, pq_m=8, refine=0)
    index = VectorIndex.build(DIM, plan, [(ids(9000), sample)], sample=lambda: sample)
    assert len(index) == 9000
    assert "WARNING" not in capfd.readouterr().err
