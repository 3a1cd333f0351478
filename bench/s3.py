"""A real S3 HTTP API on a loopback port (moto's server mode, from the dev extra), for the
tests and benchmarks that put the catalog on object storage."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from index import IndexSettings
from workers.lifetime import die_with_parent
from workers.process import free_port

__all__ = ["S3Server", "index_settings"]
KEY_ID, SECRET, REGION = "lookalike-test", "lookalike-test-secret", "us-east-1"


class S3Server:
    def __init__(self, log: Path) -> None:
        # this environment's moto first: a `moto_server` earlier on PATH may be another one's
        server = str(Path(sys.executable).parent / "moto_server")
        if not Path(server).exists():
            server = shutil.which("moto_server") or server
        if not Path(server).exists():
            raise RuntimeError(
                "moto_server is not installed; `pip install -e '.[dev]'` brings it (moto[server])."
            )
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [server, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto_server died: {log.read_text()[-2000:]}")
            try:
                httpx.get(self.endpoint, timeout=2)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("moto_server did not answer within 60 s")

    def bucket(self, name: str) -> str:
        """Create a bucket (3-63 lowercase characters); returns its s3:// URI."""
        import boto3

        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
        )
        client.create_bucket(Bucket=name)
        return f"s3://{name}"

    def env(self, uri: str) -> dict[str, str]:
        """The settings that point a Lookalike process at `uri` on this server."""
        return {
            "LOOKALIKE_DATA_URI": uri,
            "LOOKALIKE_STORAGE_ENDPOINT": self.endpoint,
            "LOOKALIKE_STORAGE_REGION": REGION,
            "LOOKALIKE_STORAGE_ACCESS_KEY_ID": KEY_ID,
            "LOOKALIKE_STORAGE_SECRET_ACCESS_KEY": SECRET,
            "LOOKALIKE_STORAGE_ALLOW_HTTP": "true",
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def index_settings(env: Mapping[str, str], data_dir: Path) -> IndexSettings:
    """The index settings that LOOKALIKE_* variables `env` give a process, with `data_dir` as
    its local folder (for the processes a test or a benchmark makes in its own)."""
    fields: dict[str, Any] = {k.removeprefix("LOOKALIKE_").lower(): v for k, v in env.items()}
    return IndexSettings(data_dir=data_dir, use_gpu="never", **fields)
