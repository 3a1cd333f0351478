"""Children of `lookalike serve` (Redis, workers) do not outlive it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl, /proc")


def stat(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (field 3 of proc(5) first)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def test_a_child_is_gone_when_its_parent_dies() -> None:
    # the parent starts a child that would sleep for a minute, prints its pid, and is killed
    code = (
        "import subprocess, sys\n"
        "from workers.lifetime import die_with_parent\n"
        "c = subprocess.Popen(['sleep', '60'], preexec_fn=die_with_parent())\n"
        "print(c.pid, flush=True)\n"
        "sys.stdin.read()\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(100):
        try:
            state = stat(child)[0]
        except FileNotFoundError:
            return
        if state == "Z":  # dead, waiting for init to reap it
            return
        time.sleep(0.05)
    pytest.fail("the child outlived its parent")
