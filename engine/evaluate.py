"""Retrieval quality on a labelled folder: mAP, recall@1, recall@10 and the chance level.

The folder is laid out like oxford5k-gt: images/, groundtruth.csv (image,group) and
optionally queries.csv (query_id,image,group,x1,y1,x2,y2). The images go through the real
ingest path into a catalog; each query (cropped to its box) is searched in the real index
against every other image.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedder.projection import Projection, normalize
from engine.engine import Engine
from engine.errors import EngineError, SourceNotFoundError
from engine.ingest import Progress, Source, ingest


@dataclass
class Query:
    image: str
    group: str
    box: tuple[float, float, float, float] | None = None


@dataclass
class GroupScore:
    group: str
    queries: int
    map: float
    recall_at_1: float
    chance_map: float


@dataclass
class EvalReport:
    model_id: str
    config: str
    dataset: str
    images: int
    queries: int
    map: float
    recall_at_1: float
    recall_at_10: float
    chance_map: float
    chance_recall_at_1: float
    chance_recall_at_10: float
    ingest_images_per_s: float
    # UKBench's standard score (Nistér and Stewénius): images of the query's own group among
    # the first 4 answers, the query itself counted first when it is in the catalog (4 is
    # perfect for groups of 4); on other sets, the same count
    ns_score: float = 0.0
    groups: list[GroupScore] = field(default_factory=list)


@dataclass
class MeanReport:
    """One configuration's scores averaged over several data sets (each set weighs the same,
    whatever its size: a default must hold on every kind of catalog)."""

    config: str
    datasets: list[str]
    map: float
    recall_at_1: float
    recall_at_10: float
    ns_score: float
    worst_map: float

    @classmethod
    def over(cls, reports: Sequence[EvalReport]) -> MeanReport:
        return cls(
            config=reports[0].config,
            datasets=[r.dataset for r in reports],
            map=float(np.mean([r.map for r in reports])),
            recall_at_1=float(np.mean([r.recall_at_1 for r in reports])),
            recall_at_10=float(np.mean([r.recall_at_10 for r in reports])),
            ns_score=float(np.mean([r.ns_score for r in reports])),
            worst_map=float(min(r.map for r in reports)),
        )


def means(per_set: Sequence[Sequence[EvalReport]]) -> list[MeanReport]:
    """For each configuration, its mean over the sets (every set ran the same configurations)."""
    return [MeanReport.over(same) for same in zip(*per_set, strict=True)]


def load_dataset(root: Path, use_queries: bool = True) -> tuple[dict[str, str], list[Query]]:
    gt_path = root / "groundtruth.csv"
    if not gt_path.is_file():
        raise SourceNotFoundError(f"{root} has no groundtruth.csv (columns image,group).")
    with gt_path.open(newline="") as fh:
        groups = {row["image"]: row["group"] for row in csv.DictReader(fh)}
    q_path = root / "queries.csv"
    if use_queries and q_path.is_file():
        with q_path.open(newline="") as fh:
            queries = [
                Query(
                    r["image"],
                    r["group"],
                    (float(r["x1"]), float(r["y1"]), float(r["x2"]), float(r["y2"])),
                )
                for r in csv.DictReader(fh)
            ]
    else:
        queries = [Query(image, group) for image, group in groups.items()]
    return groups, queries


def average_precision(relevant: list[bool], total_relevant: int) -> float:
    if total_relevant == 0:
        return 0.0
    hits, score = 0, 0.0
    for rank, rel in enumerate(relevant, start=1):
        if rel:
            hits += 1
            score += hits / rank
    return score / total_relevant


def _chance_recall(n: int, positives: int, k: int) -> float:
    """Probability that a random ranking of n puts at least one of the positives in the top k."""
    k = min(k, n)
    return 1.0 - math.comb(n - positives, k) / math.comb(n, k)


CONFIGS = ("plain", "qe", "ms", "whiten", "whiten+qe", "ms+qe")


def query_expansion(database: np.ndarray, queries: np.ndarray, n: int = 3) -> np.ndarray:
    """Average query expansion: each query plus its top-n results, renormalised."""
    top = np.argsort(-(queries @ database.T), axis=1)[:, :n]
    return normalize(queries + database[top].sum(axis=1))


def evaluate(
    engine: Engine,
    root: Path,
    *,
    use_queries: bool = True,
    progress: Progress | None = None,
    configs: Sequence[str] = ("plain",),
) -> list[EvalReport]:
    """One report per configuration; the catalog is ingested once for all of them."""
    for config in configs:
        if any(part not in ("qe", "ms", "whiten", "plain") for part in config.split("+")):
            raise EngineError(
                f"'{config}' is not an eval configuration; use plain, qe, ms, whiten or "
                "combinations such as whiten+qe."
            )
    groups, queries = load_dataset(root, use_queries)
    images_dir = root / "images"
    sources = [Source(uri=name, path=images_dir / name) for name in groups]
    report = ingest(engine, sources, progress)
    names_of: dict[str, list[str]] = defaultdict(list)
    for outcome in report.outcomes:
        if outcome.item_id and outcome.status != "failed":
            names_of[outcome.item_id].append(outcome.source)
    catalog = engine.catalog
    embedder = engine.embedder

    from embedder import decode_image

    crops = []
    for q in queries:
        # The embedder's limits, but full scale (no draft): the boxes are in file pixels.
        decoded = decode_image(
            (images_dir / q.image).read_bytes(),
            max_pixels=embedder.settings.max_pixels,
            max_aspect_ratio=embedder.settings.max_aspect_ratio,
        )
        img = decoded.image
        if q.box:
            x1, y1, x2, y2 = (round(v) for v in q.box)
            img = img.crop((x1, y1, x2, y2))
        crops.append(img)
    plain_q = embedder.embed_images(crops)
    multi_q = embedder.embed_images_multiscale(crops) if any("ms" in c for c in configs) else None
    ids, database = engine.store.read_vectors(catalog.model_id, catalog.dim)
    return [
        _score(
            config,
            catalog.model_id,
            root.name,
            groups,
            queries,
            names_of,
            ids,
            database,
            multi_q if "ms" in config.split("+") else plain_q,
            report.images_per_second,
        )
        for config in configs
    ]


def _score(
    config: str,
    model_id: str,
    dataset: str,
    groups: dict[str, str],
    queries: list[Query],
    names_of: dict[str, list[str]],
    ids: list[str],
    database: np.ndarray,
    vectors: np.ndarray | None,
    ingest_rate: float,
) -> EvalReport:
    assert vectors is not None
    parts = config.split("+")
    if "whiten" in parts:
        whiten = Projection.learn(database)  # the rule `lookalike whiten` serves with
        database, vectors = whiten.apply(database), whiten.apply(vectors)
    if "qe" in parts:
        vectors = query_expansion(database, vectors)
    order = np.argsort(-(vectors @ database.T), axis=1)
    n = len(groups)
    per_group: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    aps, r1, r10, chance, chance1, chance10, ns = [], [], [], [], [], [], []
    for q, ranked in zip(queries, order, strict=True):
        names = [name for i in ranked for name in names_of[ids[i]] if name != q.image]
        relevant = [groups[name] == q.group for name in names]
        itself = int(q.image in groups)
        ns.append(itself + sum(relevant[: 4 - itself]))
        positives = sum(1 for name, g in groups.items() if g == q.group and name != q.image)
        ap = average_precision(relevant, positives)
        aps.append(ap)
        r1.append(float(any(relevant[:1])))
        r10.append(float(any(relevant[:10])))
        chance.append(positives / (n - 1))
        chance1.append(_chance_recall(n - 1, positives, 1))
        chance10.append(_chance_recall(n - 1, positives, 10))
        per_group[q.group].append((ap, r1[-1], chance[-1]))
    group_scores = [
        GroupScore(
            group=g,
            queries=len(rows),
            map=float(np.mean([r[0] for r in rows])),
            recall_at_1=float(np.mean([r[1] for r in rows])),
            chance_map=float(np.mean([r[2] for r in rows])),
        )
        for g, rows in sorted(per_group.items())
    ]
    return EvalReport(
        model_id=model_id,
        config=config,
        dataset=dataset,
        images=n,
        queries=len(queries),
        map=float(np.mean(aps)),
        recall_at_1=float(np.mean(r1)),
        recall_at_10=float(np.mean(r10)),
        chance_map=float(np.mean(chance)),
        chance_recall_at_1=float(np.mean(chance1)),
        chance_recall_at_10=float(np.mean(chance10)),
        ingest_images_per_s=ingest_rate,
        ns_score=float(np.mean(ns)),
        groups=group_scores,
    )
