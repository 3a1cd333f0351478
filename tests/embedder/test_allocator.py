"""The malloc settings of a model process: large blocks stay in the heap between passes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")

# Page faults over ten allocations of 64 MiB, each written and freed, as forward passes do
# with their activations; the first allocation (its pages faulted in once) is not counted.
MEASURE = """
import resource, sys
import numpy as np
from embedder.allocator import keep_activation_memory
if sys.argv[1] == "tuned":
    assert keep_activation_memory()
def rounds(n):
    for _ in range(n):
        block = np.ones(16 << 20, dtype=np.float32)
        del block
rounds(1)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rounds(10)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, **env: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, mode],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.strip())


def test_large_blocks_are_reused_instead_of_faulted_in_again() -> None:
    untuned, tuned = _faults("untuned"), _faults("tuned")
    # Untuned, glibc maps every such block afresh (measured: 5,440 faults here, with
    # transparent huge pages); tuned, the heap keeps it (0).
    assert tuned * 10 < untuned


def test_the_operators_own_malloc_settings_win() -> None:
    code = "from embedder.allocator import keep_activation_memory as k; print(k())"
    env = {**os.environ, "MALLOC_TRIM_THRESHOLD_": "1000000"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
