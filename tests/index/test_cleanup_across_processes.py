"""A save in one process never deletes what another process is still writing: the refine
file of a build that trains for minutes, or the temporary folder of a save in progress.
Real processes (a CLI ingest beside `serve`), paused at the moment that matters."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from index import Manifest, VectorIndex, load_index, save_index
from tests.index.helpers import ids, unit_vectors

pytestmark = pytest.mark.slow
N = 1200  # enough to train an IVF index on (index/plan.py MIN_TRAIN)

# Builds an IVF index with re-ranking from a real store; training pauses (as a long one
# would) after making its refine file look two minutes old, until stdin says go on.
BUILDER = """
import os, sys, time
from pathlib import Path
import numpy as np
from index import Catalog, IndexSettings, Store
from index.catalog import Catalog as C
root = Path(sys.argv[1])
store = Store(root / "lancedb")
original = C._sample
def slow_sample(self, count):
    for f in self.index_dir.iterdir():
        if f.name.startswith(".build-"):
            os.utime(f, (time.time() - 120, time.time() - 120))
    print("training", flush=True)
    sys.stdin.readline()
    return original(self, count)
C._sample = slow_sample
settings = IndexSettings(data_dir=root, index_type="ivf_flat", nlist=4, nprobe=4, refine=2,
                         use_gpu="never")
catalog = Catalog(store, "m", 16, settings)
catalog.save()
print("saved", len(catalog.index), flush=True)
"""

# Saves a flat index but pauses inside the save, its temporary folder already made.
SAVER = """
import sys
from pathlib import Path
import numpy as np
from index import Manifest, VectorIndex, save_index
class Slow(VectorIndex):
    def to_cpu(self):
        print("saving", flush=True)
        sys.stdin.readline()
        return super().to_cpu()
root = Path(sys.argv[1])
index = Slow(16, use_gpu=False)
rng = np.random.default_rng(1)
v = rng.standard_normal((5, 16)).astype("float32")
import hashlib
names = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(5)]
index.add(names, v / np.linalg.norm(v, axis=1, keepdims=True))
save_index(root, index, Manifest(model_id="m", dim=16, lance_version=1, count=5))
print("saved", flush=True)
"""


def _child(script: str, arg: Path, ready: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(arg)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == ready, line + proc.stdout.read()
    return proc


def _save_here(root: Path) -> None:
    """What `serve` does meanwhile: save its own index into the same folder."""
    index = VectorIndex(16, use_gpu=False)
    index.add(ids(3), unit_vectors(3, 16))
    save_index(root, index, Manifest(model_id="m", dim=16, lance_version=0, count=3))


def _finish(proc: subprocess.Popen[str]) -> str:
    out, _ = proc.communicate("go\n", timeout=120)
    assert proc.returncode == 0, out
    return out


def test_a_long_build_keeps_its_refine_file(tmp_path: Path) -> None:
    from index import Store

    store = Store(tmp_path / "lancedb")
    store.add_embeddings("m", ids(N), unit_vectors(N, 16))
    builder = _child(BUILDER, tmp_path, "training")
    _save_here(tmp_path / "indexes" / "m")
    assert f"saved {N}" in _finish(builder)
    index, _ = load_index(tmp_path / "indexes" / "m", use_gpu=False)
    assert len(index) == N


def test_a_save_in_progress_keeps_its_folder(tmp_path: Path) -> None:
    root = tmp_path / "indexes" / "m"
    root.mkdir(parents=True)
    saver = _child(SAVER, root, "saving")
    _save_here(root)
    time.sleep(0.1)
    assert "saved" in _finish(saver)
    index, manifest = load_index(root, use_gpu=False)
    assert manifest.count == 5 and len(index) == 5


def test_what_a_dead_process_left_is_removed(tmp_path: Path) -> None:
    root = tmp_path / "indexes" / "m"
    saver = subprocess.Popen(
        [sys.executable, "-c", SAVER, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    root.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 60
    while not any(p.name.endswith(".tmp") for p in root.iterdir()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    saver.kill()
    saver.wait()
    _save_here(root)
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]
    assert np.load(next(root.glob("v*/ids.npy"))).shape == (3,)
