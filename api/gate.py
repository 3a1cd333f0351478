"""On the CPU, the forward pass runs alone; decoding and searching run between passes.

The network's pass uses every core through an OpenMP team whose threads wait for each other
at every layer, so a decode or a search that takes one core for a few milliseconds stalls the
whole team for as long: work done beside the pass costs it more than the work itself. The
gate is a readers-writer lock: query decodes and searches share it (two at once use both
cores), a forward pass takes it alone, and a pass that is waiting goes before new sharers, so
a stream of queries cannot starve it. On a GPU the pass leaves the cores free and the gate
is open.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator


class ComputeGate:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._cond = threading.Condition()
        self._sharing = 0
        self._exclusive = False
        self._waiting_exclusive = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """Decode, transform, search: may run together, never beside a forward pass."""
        if not self.enabled:
            yield
            return
        with self._cond:
            self._cond.wait_for(lambda: not self._exclusive and not self._waiting_exclusive)
            self._sharing += 1
        try:
            yield
        finally:
            with self._cond:
                self._sharing -= 1
                if not self._sharing:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """A forward pass: waits for the running sharers, and holds new ones back."""
        if not self.enabled:
            yield
            return
        with self._cond:
            self._waiting_exclusive += 1
            try:
                self._cond.wait_for(lambda: not self._exclusive and not self._sharing)
            finally:
                self._waiting_exclusive -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()
