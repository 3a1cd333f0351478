"""A `lookalike serve` process on a free loopback port: for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from workers.process import free_port

__all__ = ["SMALL_MODEL", "ServeProcess", "free_port"]
SMALL_MODEL = ["--model", "resnet18", "--weights", "none", "--device", "cpu"]


class ServeProcess:
    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, model: list[str] = SMALL_MODEL
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"{data_dir.name}-server-{self.port}.log"
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "lookalike"),
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
                *model,
            ],
            # Two malloc arenas: glibc's default (8 per core) fragments under uvicorn's and
            # LanceDB's many threads and the server's memory creeps up (measured by the load
            # test); the Dockerfile sets the same.
            env={**os.environ, "PYTHONUNBUFFERED": "1", "MALLOC_ARENA_MAX": "2", **(env or {})},
            # A file, not a pipe: nobody reads a pipe while the server runs, and a full one
            # (64 KiB of access log) would block the server's next write, and so the server.
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server died: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/ready", timeout=5).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("server did not become ready")

    def stop(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # its children get SIGTERM from the kernel (parent-death signal)
            self.proc.wait()
        return self.proc.returncode, self.log.read_text()
