"""Starting Celery worker processes: for the embedded default and for scale-out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from workers.lifetime import die_with_parent


def free_port() -> int:
    """A TCP port free on loopback now (for a worker's /metrics, a test or bench server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_command(concurrency: int = 4, name: str = "lookalike@%h") -> list[str]:
    # Threads, not forked children: CUDA and LanceDB's runtime do not survive a fork, and the
    # main thread stays free to answer pings while a batch is on the model. Scale out with
    # more worker processes (one model, one GPU each), not with a bigger pool.
    return [
        *(sys.executable, "-m", "celery", "-A", "workers.celery_app", "worker"),
        *("--loglevel", "INFO", "--pool", "threads", "--concurrency", str(concurrency)),
        *("-Q", "lookalike", "-n", name, "--without-gossip", "--without-mingle"),
    ]


def start_worker(
    redis_url: str,
    data_dir: Path,
    *,
    concurrency: int = 4,
    name: str = "lookalike@%h",
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """A real worker process in its own process group, so that stopping it stops its children."""
    full_env = {
        **os.environ,
        **(env or {}),
        "LOOKALIKE_REDIS_URL": redis_url,
        "LOOKALIKE_DATA_DIR": str(data_dir),
    }
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        worker_command(concurrency, name),
        env=full_env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )


def stop_worker(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """Warm shutdown (SIGTERM: finish the current task), then SIGKILL if it overstays."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def kill_worker(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the worker and its pool children at once, as a crash would."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
