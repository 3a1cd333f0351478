"""The index at scale: a million 2048-d vectors, each index kind beside exact search.

One run: synthetic clustered vectors are streamed to a file; exact search over all of them
gives the true top 10 of held-out queries and the exact queries/s; then each plan is built
with the product's own code (sample training, streamed adds, atomic save) and loaded in a
fresh process, which reports its load time, recall@10 against the truth, single-query
queries/s and its memory (RSS) after the queries. The ratios are to exact search measured
in the same run. The probe imports only numpy, FAISS and the index package (no torch), so
its memory is the index's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.vectors import CHUNK, ClusteredVectors, row_ids
from index import IndexSettings, Manifest, load_index, save_index
from index.plan import IndexPlan, choose_plan
from index.vectors import VectorIndex

EXACT_TIMED = 5  # exact single queries timed (each scans every vector)


def _rss_mib() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MiB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def generate(folder: Path, count: int, dim: int, queries: int) -> tuple[np.memmap, np.ndarray]:
    data = np.lib.format.open_memmap(folder / "vectors.npy", "w+", np.float32, (count, dim))
    gen = ClusteredVectors(dim)
    for number, chunk in enumerate(gen.rows(count)):
        data[number * CHUNK : number * CHUNK + len(chunk)] = chunk
    data.flush()
    return data, gen.queries(queries)


def exact(data: np.memmap, queries: np.ndarray, k: int = 10) -> dict[str, Any]:
    """True top-k of each query, and the exact index's single-query rate and memory."""
    import faiss

    index = faiss.IndexFlatIP(data.shape[1])
    for start in range(0, len(data), 100_000):
        index.add(np.ascontiguousarray(data[start : start + 100_000]))
    _, truth = index.search(queries, k)
    started = time.perf_counter()
    for q in queries[:EXACT_TIMED]:
        index.search(q[None], k)
    qps = EXACT_TIMED / (time.perf_counter() - started)
    memory = index.ntotal * index.d * 4 / 2**20
    del index
    return {"truth": truth, "qps": qps, "vectors_mib": memory}


def build(data: np.memmap, plan: IndexPlan, folder: Path, sample_size: int) -> float:
    """Build, train and save `plan` as the catalog would; returns the build seconds."""
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    def sample() -> np.ndarray:
        pick = np.sort(rng.choice(len(data), min(sample_size, len(data)), replace=False))
        return np.asarray(data[pick])[rng.permutation(len(pick))]

    batches = (
        (row_ids(start, len(chunk)), chunk)
        for start in range(0, len(data), 50_000)
        for chunk in [np.asarray(data[start : start + 50_000])]
    )
    refine_path = folder / f".build-{time.time_ns()}.f16"
    index = VectorIndex.build(data.shape[1], plan, batches, sample=sample, refine_path=refine_path)
    seconds = time.perf_counter() - started
    manifest = Manifest(
        model_id="bench", dim=data.shape[1], lance_version=0, count=len(index), plan=plan
    )
    save_index(folder, index, manifest)
    return seconds


def probe(folder: Path, queries_file: Path, truth_file: Path) -> dict[str, Any]:
    """In a fresh process: load, query one at a time, measure recall, rate and memory."""
    started = time.perf_counter()
    index, _ = load_index(folder, use_gpu=False)
    load_s = time.perf_counter() - started
    queries, truth = np.load(queries_file), np.load(truth_file)
    index.search(queries[:5], 10)  # warm-up
    found: list[list[int]] = []
    started = time.perf_counter()
    for q in queries:
        found.append([int(i[:15], 16) for i, _ in index.search(q, 10)[0]])
    qps = len(queries) / (time.perf_counter() - started)
    recall = float(
        np.mean([len(set(f) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])
    )
    rss, peak = _rss_mib()
    return {"load_s": load_s, "qps": qps, "recall": recall, "rss_mib": rss, "peak_mib": peak}


def plans(count: int, dim: int) -> dict[str, IndexPlan]:
    """The automatic choice, the same without re-ranking, and the alternatives it passed over."""
    auto = choose_plan(count, dim, IndexSettings())
    out = {f"auto: {auto.describe()}": auto}
    if auto.refine:
        out["auto without re-ranking"] = auto.model_copy(update={"refine": 0})
    sq8 = choose_plan(count, dim, IndexSettings(index_type="ivf_sq8"))
    out[f"override: {sq8.describe()}"] = sq8
    pca = choose_plan(count, dim, IndexSettings(index_type="ivf_sq8", index_pca=dim // 8))
    out[f"override: {pca.describe()}"] = pca
    return out


def run(count: int, dim: int, queries: int = 200, only: str | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {"count": count, "dim": dim, "queries": queries, "indexes": {}}
    sample = IndexSettings().train_sample
    with tempfile.TemporaryDirectory(prefix="lookalike-scale-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        data, qs = generate(root, count, dim, queries)
        result["generate_s"] = time.perf_counter() - started
        truth = exact(data, qs)
        result["exact"] = {"qps": truth["qps"], "vectors_mib": truth["vectors_mib"]}
        np.save(root / "queries.npy", qs)
        np.save(root / "truth.npy", truth["truth"])
        for name, plan in plans(count, dim).items():
            if only and only not in name:
                continue
            folder = root / "indexes" / str(len(result["indexes"]))
            build_s = build(data, plan, folder, sample)
            probe_out = subprocess.run(
                [sys.executable, "-m", "bench.scale", str(folder), str(root)],
                check=True,
                capture_output=True,
                text=True,
            )
            figures = json.loads(probe_out.stdout.strip().splitlines()[-1])
            figures["build_s"] = build_s
            figures["qps_ratio"] = figures["qps"] / truth["qps"]
            result["indexes"][name] = figures
            print(f"  {name}: {figures}", file=sys.stderr, flush=True)
    return result


def rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {
            "figure": f"exact search, {result['count']:,} x {result['dim']}: queries/s",
            "value": f"{result['exact']['qps']:.2f}",
        },
        {
            "figure": "exact search: vectors in memory (MiB)",
            "value": f"{result['exact']['vectors_mib']:.0f}",
        },
    ]
    for name, f in result["indexes"].items():
        out += [
            {"figure": name, "value": ""},
            {"figure": "  build s / load s", "value": f"{f['build_s']:.0f} / {f['load_s']:.2f}"},
            {"figure": "  recall@10 vs exact", "value": f"{f['recall']:.3f}", "target": ">= 0.95"},
            {"figure": "  queries/s (single query)", "value": f"{f['qps']:.0f}"},
            {
                "figure": "  queries/s ratio to exact",
                "value": f"{f['qps_ratio']:.0f}x",
                "target": ">= 20x",
            },
            {
                "figure": "  process RSS after queries (MiB)",
                "value": f"{f['rss_mib']:.0f}",
                "target": "< 1536",
            },
        ]
    return out


if __name__ == "__main__":  # the probe, run in a fresh process by `run`
    index_folder, work = Path(sys.argv[1]), Path(sys.argv[2])
    print(json.dumps(probe(index_folder, work / "queries.npy", work / "truth.npy")))
