"""Every forward pass of a process runs on one thread, whichever thread asks for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from embedder.model_thread import on_model_thread


def test_callers_on_many_threads_share_one_model_thread() -> None:
    with ThreadPoolExecutor(4) as callers:
        seen = list(callers.map(lambda _: on_model_thread(threading.get_ident), range(12)))
    assert len(set(seen)) == 1 and seen[0] != threading.get_ident()
    # a pass that asks from the model thread itself runs there at once (no deadlock)
    assert on_model_thread(lambda: on_model_thread(threading.get_ident)) == seen[0]
    with pytest.raises(ZeroDivisionError):
        on_model_thread(lambda: 1 / 0)


PROBE = """
import json, os, threading
import torch
from embedder import Embedder, EmbedderSettings

torch.set_num_threads(2)
embedder = Embedder.load(EmbedderSettings(model="resnet18", weights="none"))
batch = [torch.rand(3, 224, 224) for _ in range(2)]
embedder.embed_tensors(batch)  # the model thread and its OpenMP team exist now
threads = lambda: len(os.listdir("/proc/self/task"))
before = threads()
done, leave = threading.Event(), threading.Event()
def caller():
    embedder.embed_tensors(batch)
    done.set()
    leave.wait()  # an OpenMP team lives as long as its thread: count while this one lives
worker = threading.Thread(target=caller)
worker.start()
done.wait()
print(json.dumps({"started": threads() - before}))
leave.set()
worker.join()
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
    reason="counts the threads of /proc/self/task; OpenMP teams need two cores",
)
def test_a_pass_asked_for_on_another_thread_starts_no_second_openmp_team() -> None:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(PROBE)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["started"] == 1  # the caller alone
