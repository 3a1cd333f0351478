"""/metrics in Prometheus format, request ids on every answer, JSON log lines carrying them."""

from __future__ import annotations

import json
import logging

from fastapi.testclient import TestClient

from engine.logs import JsonFormatter, LogSettings, new_request_id, request_id, setup_logging
from tests.api.helpers import search_file, upload
from tests.images import jpeg


def _value(text: str, sample: str) -> float:
    """A sample's value; 0 when absent. Metrics are per process, so tests compare deltas."""
    line = next((ln for ln in text.splitlines() if ln.startswith(sample + " ")), None)
    return float(line.rsplit(" ", 1)[1]) if line else 0.0


UPLOADS = 'lookalike_http_requests_total{method="POST",route="/v1/items",status="200"}'
UNMATCHED = 'lookalike_http_requests_total{method="GET",route="unmatched",status="404"}'


def test_metrics_cover_routes_stages_jobs_and_index(client: TestClient) -> None:
    before = client.get("/metrics").text
    upload(client, 1, 2, 3)
    assert search_file(client, jpeg(1)).status_code == 200
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert _value(text, UPLOADS) - _value(before, UPLOADS) == 1
    assert (
        'lookalike_http_request_seconds_bucket{le="0.005",method="POST",route="/v1/search/image"}'
        in text
    )
    for stage in ("decode", "preprocess", "forward", "index_search", "store"):
        assert _value(text, f'lookalike_stage_seconds_count{{stage="{stage}"}}') >= 1, stage
    assert _value(text, 'lookalike_forward_batch_size_count{path="query"}') >= 1
    assert _value(text, 'lookalike_images_embedded_total{model="resnet18.none.gem.512"}') >= 3
    assert _value(text, 'lookalike_jobs{state="done"}') >= 1
    assert (
        _value(text, 'lookalike_index_vectors{index_type="flat",model="resnet18.none.gem.512"}')
        == 3
    )
    assert "lookalike_query_queue_depth" in text and "lookalike_workers_alive" in text
    # unknown paths share one label value: a scanner cannot blow up the series count
    client.get("/no/such/path/1")
    client.get("/no/such/path/2")
    after = client.get("/metrics").text
    assert _value(after, UNMATCHED) - _value(text, UNMATCHED) == 2
    assert "/no/such" not in after


def test_request_id_is_echoed_or_made(client: TestClient) -> None:
    given = client.get("/health", headers={"X-Request-ID": "trace-42.a"})
    assert given.headers["X-Request-ID"] == "trace-42.a"
    made = client.get("/health").headers["X-Request-ID"]
    assert len(made) == 32 and made != "trace-42.a"
    hostile = client.get("/health", headers={"X-Request-ID": "a b\x01" + "x" * 100})
    assert hostile.headers["X-Request-ID"] != "a b\x01" + "x" * 100


def test_json_log_lines_carry_the_request_id(capsys) -> None:  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(LogSettings(log_json=True))
        token = request_id.set(new_request_id("upload-7"))
        logging.getLogger("lookalike.test").warning("embedded %d images", 3)
        request_id.reset(token)
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    record = json.loads(line)
    assert record["request_id"] == "upload-7" and record["message"] == "embedded 3 images"
    assert record["level"] == "warning" and "time" in record
    assert JsonFormatter().format(logging.makeLogRecord({"msg": "x"}))  # no request id: still JSON
