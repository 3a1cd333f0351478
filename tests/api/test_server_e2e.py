"""The real thing: `lookalike serve` in its own process, over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.client import LookalikeClient, LookalikeError
from tests.api.server import HEAD, LIMIT, Server
from tests.images import jpeg


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data")
    yield srv
    if srv.proc.poll() is None:
        srv.stop()  # SIGTERM: the server stops its worker and Redis too


@pytest.mark.slow
def test_upload_search_restart(server: Server, tmp_path: Path) -> None:
    with LookalikeClient(server.url) as client:
        up = client.upload(
            [jpeg(i) for i in range(10)],
            client_keys=[f"k{i}" for i in range(10)],
            metadata=[{"n": i} for i in range(10)],
        )
        assert up.added == 10
        found = client.search_image(jpeg(3), k=3)
        assert len(found.hits) == 3 and found.hits[0].client_key != "k3"  # self left out
        with pytest.raises(LookalikeError) as err:
            client.search_image(b"not an image")
        assert err.value.status == 422 and err.value.code == "not_an_image"
    code, out = server.stop()
    assert code == 0, out
    manifest = next((tmp_path / "data" / "indexes").glob("*/*/manifest.json"))
    assert json.loads(manifest.read_text())["count"] == 10  # saved on SIGTERM

    again = Server(tmp_path / "data", inline=True)  # the index, not the queue, is the point
    try:
        ready = httpx.get(again.url + "/ready").json()
        assert ready["indexed"] == 10
    finally:
        again.stop()


@pytest.mark.slow
def test_concurrent_uploads_and_searches(server: Server) -> None:
    httpx.post(server.url + "/v1/items", files=[("files", (f"{i}.jpg", jpeg(i))) for i in range(8)])

    async def run() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as c:
            searches = [
                c.post(
                    "/v1/search/image", files=[("files", ("q.jpg", jpeg(100 + i)))], data={"k": "5"}
                )
                for i in range(24)
            ]
            uploads = [
                c.post("/v1/items", files=[("files", (f"u{i}.jpg", jpeg(300 + i)))])
                for i in range(6)
            ]
            responses = await asyncio.gather(*searches, *uploads)
            return [r.status_code for r in responses]

    codes = asyncio.run(run())
    assert codes == [200] * 30
    items = httpx.get(server.url + "/v1/items", params={"limit": 100}).json()["items"]
    assert len(items) == 14


def _read_status(sock: socket.socket) -> int:
    sock.settimeout(10)
    head = sock.recv(4096).decode(errors="replace")
    return int(head.split()[1])


@pytest.fixture
def inline_server(tmp_path: Path) -> Iterator[Server]:
    """The server without Redis and a worker, for what happens before any embedding."""
    srv = Server(tmp_path / "data", inline=True)
    yield srv
    srv.stop()


@pytest.mark.slow
def test_oversized_body_is_refused_before_it_is_read(inline_server: Server) -> None:
    server = inline_server
    # A declared length over the cap: answered without sending a byte of body.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"{HEAD}Content-Length: {10**10}\r\n\r\n".encode())
        assert _read_status(sock) == 413
    # A chunked body with no declared length: cut off once the running count passes the cap.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(f"{HEAD}Transfer-Encoding: chunked\r\n\r\n".encode())
        part = (
            b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n'
            b"Content-Type: image/jpeg\r\n\r\n"
        )
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        chunk = b"x" * 65536
        sent = 0
        sock.settimeout(0.05)
        status = None
        while sent < 50 * LIMIT:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            except OSError:
                break
            try:
                data = sock.recv(4096)
                if data:
                    status = int(data.decode(errors="replace").split()[1])
                    break
            except TimeoutError:
                continue
        if status is None:
            status = _read_status(sock)
        assert status == 413
        assert sent < 10 * LIMIT


@pytest.mark.slow
def test_a_killed_server_leaves_no_redis_or_worker_behind(tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    srv = Server(tmp_path / "data")
    children = psutil.Process(srv.proc.pid).children(recursive=True)
    names = " ".join(" ".join(c.cmdline()) for c in children)
    assert "redis-server" in names and "celery" in names
    srv.proc.kill()  # no chance to clean up: the kernel's parent-death signal must do it
    srv.proc.wait()
    _, alive = psutil.wait_procs(children, timeout=30)
    assert alive == []


def _log_once_it_holds(path: Path, text: str, timeout_s: float = 30) -> str:
    """The log, read until it holds `text`: the worker writes its batch line after the item's
    row is written, so the response that saw the row can come first."""
    deadline = time.monotonic() + timeout_s
    while text not in (log := path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return log


@pytest.mark.slow
def test_request_id_reaches_the_worker_and_workers_export_metrics(
    server: Server, tmp_path: Path
) -> None:
    files = [("files", ("trace.jpg", jpeg(321), "image/jpeg"))]
    resp = httpx.post(
        server.url + "/v1/items", files=files, headers={"X-Request-ID": "e2e-trace-7"}, timeout=60
    )
    assert resp.status_code == 200 and resp.headers["X-Request-ID"] == "e2e-trace-7"
    worker_log = _log_once_it_holds(tmp_path / "data" / "worker0.log", "e2e-trace-7")
    assert "e2e-trace-7" in worker_log  # the batch's log line in the worker process
    metrics = httpx.get(server.url + "/metrics").text
    assert "lookalike_workers_alive 1.0" in metrics
    beats = [ln for ln in metrics.splitlines() if ln.startswith("lookalike_worker_heartbeat_age")]
    assert len(beats) == 1 and float(beats[0].rsplit(" ", 1)[1]) < 30
    url = re.search(r"worker metrics on (\S+)", worker_log).group(1)  # type: ignore[union-attr]
    own = httpx.get(url).text  # the worker's own stage timings and counts
    model = httpx.get(server.url + "/ready").json()["model_id"]
    assert f'lookalike_images_embedded_total{{model="{model}"}} 1.0' in own
    assert 'lookalike_stage_seconds_count{stage="forward"}' in own
