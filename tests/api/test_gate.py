"""The compute gate: on the CPU a forward pass runs alone, and a waiting pass goes first."""

from __future__ import annotations

import threading
import time

from api.gate import ComputeGate


def test_sharers_run_together_and_never_beside_a_pass() -> None:
    gate = ComputeGate(enabled=True)
    log: list[str] = []
    inside = threading.Semaphore(0)

    def share(name: str) -> None:
        with gate.shared():
            log.append(f"{name}+")
            inside.release()
            time.sleep(0.1)
            log.append(f"{name}-")

    sharers = [threading.Thread(target=share, args=(n,)) for n in "ab"]
    for t in sharers:
        t.start()
    inside.acquire()
    inside.acquire()  # both sharers are in at once

    def forward() -> None:
        with gate.exclusive():
            log.append("pass")

    passer = threading.Thread(target=forward)
    passer.start()
    time.sleep(0.02)
    late = threading.Thread(target=share, args=("c",))
    late.start()  # arrives while the pass waits: goes after it
    for t in [*sharers, passer, late]:
        t.join(5)
    assert log.index("pass") > max(log.index("a-"), log.index("b-"))
    assert log.index("c+") > log.index("pass")


def test_an_open_gate_holds_nobody() -> None:
    gate = ComputeGate(enabled=False)
    with gate.exclusive(), gate.shared(), gate.exclusive():
        pass
