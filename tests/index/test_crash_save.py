"""SIGKILL in the middle of an index save: the next load gets the old or the new index,
never a half-written one. Real processes, killed at random points of real saves."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index import load_index, read_manifest

pytestmark = pytest.mark.slow

# A child that saves a ~60 MB index over and over, each time with one more vector.
SAVER = """
import hashlib
import sys
import numpy as np
from pathlib import Path
from index import Manifest, VectorIndex, save_index
root, dim, n = Path(sys.argv[1]), 256, 60_000
rng = np.random.default_rng(0)
vectors = rng.standard_normal((n + 100, dim)).astype("float32")
vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n + 100)]
for round_no in range(100):
    count = n + round_no
    index = VectorIndex(dim, use_gpu=False)
    index.add(ids[:count], vectors[:count])
    manifest = Manifest(model_id="m", dim=dim, index_type="flat", lance_version=round_no,
                        count=count)
    save_index(root, index, manifest)
    print("saved", count, flush=True)
"""


def test_sigkill_during_saves_never_leaves_a_half_written_index(tmp_path: Path) -> None:
    root = tmp_path / "index"
    rng = random.Random(7)
    loads = []
    for attempt in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(root)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        first = child.stdout.readline()  # one full save done: there is an index to protect
        assert first.startswith("saved"), first
        time.sleep(rng.uniform(0.0, 0.6))  # somewhere inside a later save
        child.send_signal(signal.SIGKILL)
        child.wait()
        index, manifest = load_index(root, use_gpu=False)
        assert len(index) == manifest.count == len(index.item_ids)
        assert read_manifest(root) == manifest
        loads.append(manifest.count)
        leftovers = [p.name for p in root.iterdir() if p.name.startswith(".")]
        print(f"kill {attempt}: loaded {manifest.count} vectors; leftovers {leftovers}")
    assert len(loads) == 5
