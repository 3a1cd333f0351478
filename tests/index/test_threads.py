"""FAISS beside a CPU model: short calls start no OpenMP team, bulk work gets every core.

Each case runs in a fresh interpreter: OpenMP teams live as long as their threads, and a
process that shares its cores with a model stays so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
    reason="counts the threads of /proc/self/task; OpenMP teams need two cores",
)

PROBE = """
import json, os, sys, threading
import numpy as np
import torch
import faiss
from index.threads import faiss_call, in_own_thread, share_cores_with_model
from index.vectors import VectorIndex

if sys.argv[1] == "share":
    share_cores_with_model()
torch.ones(1 << 22).sum()  # the model's thread (here the main one) has its OpenMP team
rng = np.random.default_rng(0)
vectors = rng.standard_normal((20000, 256)).astype(np.float32)
index = VectorIndex(256)
index.add([f"{n:064x}" for n in range(len(vectors))], vectors)
threads = lambda: len(os.listdir("/proc/self/task"))
before = threads()
searched, leave = threading.Event(), threading.Event()
def search():
    index.search(vectors[:4], 10)
    searched.set()
    leave.wait()  # a team lives as long as its thread: count while this one lives
worker = threading.Thread(target=search)
worker.start()
searched.wait()
out = {"started": threads() - before}
leave.set()
worker.join()
def inside():
    with faiss_call():
        return faiss.omp_get_max_threads()
out["main"] = faiss.omp_get_max_threads()
out["call"] = inside()
out["after_call"] = faiss.omp_get_max_threads()
out["bulk"] = in_own_thread(inside)
try:
    in_own_thread(lambda: 1 / 0)
except ZeroDivisionError:
    out["bulk_error"] = "raised"
print(json.dumps(out))
"""


def probe(mode: str) -> dict:
    code = textwrap.dedent(PROBE)
    done = subprocess.run(
        [sys.executable, "-c", code, mode], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_process_sharing_its_cores_searches_without_a_second_openmp_team() -> None:
    shared = probe("share")
    assert shared["started"] == 1  # the search's own thread, no OpenMP team beside it
    cores = shared["main"]
    assert shared["call"] == 1 and shared["after_call"] == cores  # the caller's setting is back
    assert shared["bulk"] == cores  # a build on its own thread uses every core
    assert shared["bulk_error"] == "raised"


def test_without_a_model_faiss_keeps_its_threads() -> None:
    alone = probe("alone")
    assert alone["started"] >= 2  # the search thread and its OpenMP team: what sharing avoids
    assert alone["call"] == alone["main"] == alone["bulk"]
