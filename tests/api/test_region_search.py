"""Search by a region over HTTP against `lookalike eval`: the Oxford queries, each sent
whole with its box, rank the catalog as eval's cropped queries do (efficientnet_lite0's
packaged weights, the serving defaults)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import ApiSettings
from bench.common import OXFORD
from embedder import EmbedderSettings
from engine import Engine
from engine.evaluate import average_precision, evaluate, load_dataset
from index import IndexSettings

ROOT = OXFORD.parent
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OXFORD.is_dir(), reason="needs ../shared/datasets/oxford5k-gt"),
]


def test_oxford_queries_with_their_boxes_match_evals_cropped_queries(tmp_path: Path) -> None:
    engine = Engine(
        EmbedderSettings(model="efficientnet_lite0", device="cpu"),
        IndexSettings(data_dir=tmp_path, use_gpu="never"),
    )
    [report] = evaluate(engine, ROOT)  # ingests the set into this catalog
    groups, queries = load_dataset(ROOT)
    aps = []
    with TestClient(create_app(engine, ApiSettings(max_k=1000))) as client:
        listed = client.get("/v1/items", params={"limit": 1000}).json()
        assert listed["next_cursor"] is None
        name_of = {i["id"]: i["source"] for i in listed["items"]}
        for q in queries:
            assert q.box is not None
            resp = client.post(
                "/v1/search/image",
                files=[("files", (q.image, (OXFORD / q.image).read_bytes(), "image/jpeg"))],
                data={"box": ",".join(f"{v:g}" for v in q.box), "k": str(len(groups))},
            )
            assert resp.status_code == 200, resp.text
            names = [name_of[h["item_id"]] for h in resp.json()["hits"]]
            relevant = [groups[n] == q.group for n in names if n != q.image]
            positives = sum(1 for n, g in groups.items() if g == q.group and n != q.image)
            aps.append(average_precision(relevant, positives))
    over_http = float(np.mean(aps))
    print(f"\nOxford mAP, boxes over HTTP {over_http:.4f}, eval's cropped queries {report.map:.4f}")
    assert abs(over_http - report.map) <= 0.005
