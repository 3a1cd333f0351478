"""The `lookalike serve` process of the end-to-end tests: a small model on small inputs (the
tests are about the service, not the model) and a 1 MiB body cap."""

from __future__ import annotations

from pathlib import Path

from bench.server import SMALL_MODEL, ServeProcess, free_port

LIMIT = 1024 * 1024
HEAD = "POST /v1/items HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"

__all__ = ["HEAD", "LIMIT", "SMALL_ENV", "Server", "free_port"]
SMALL_ENV = {"LOOKALIKE_MAX_BODY_BYTES": str(LIMIT), "LOOKALIKE_INPUT_SIZE": "64"}


class Server(ServeProcess):
    def __init__(self, data_dir: Path, inline: bool = False) -> None:
        model = [*SMALL_MODEL, "--inline"] if inline else SMALL_MODEL
        super().__init__(data_dir, env=SMALL_ENV, model=model)
