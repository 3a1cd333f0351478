"""Which item each FAISS label stands for: the saved arrays as loaded, plus changes since.

A million ids as Python strings in a dict took 0.4 s to build at every start and about
200 MB. Kept as the sorted numpy arrays they are saved as, they load in milliseconds and
take 72 MB; lookups are binary searches, done for a whole row of search results at once.
Ids added since the load go to a small dict; removals clear a flag.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ID_DTYPE = "S64"  # item ids are 64 ASCII hex digits (sha256 of the picture)


class IdMap:
    def __init__(
        self, labels: np.ndarray | None = None, ids: np.ndarray | Sequence[str] = ()
    ) -> None:
        labels = np.asarray(labels if labels is not None else [], np.int64)
        ids = np.asarray(ids, dtype=ID_DTYPE)
        if len(labels) != len(ids):
            raise ValueError(f"{len(labels)} labels for {len(ids)} ids")
        if len(labels) > 1 and bool(np.any(labels[1:] < labels[:-1])):
            order = np.argsort(labels, kind="stable")
            labels, ids = labels[order], ids[order]
        self._labels, self._ids = labels, ids
        self._live = np.ones(len(labels), bool)
        self._base_count = len(labels)
        self._added: dict[int, str] = {}

    def _find(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in the loaded arrays, and whether each label sits there."""
        if not len(self._labels):
            return np.zeros(len(labels), np.intp), np.zeros(len(labels), bool)
        pos = np.minimum(np.searchsorted(self._labels, labels), len(self._labels) - 1)
        return pos, self._labels[pos] == labels

    def __len__(self) -> int:
        return self._base_count + len(self._added)

    def __contains__(self, label: int) -> bool:
        return bool(self.contains(np.array([label], np.int64))[0])

    def contains(self, labels: np.ndarray) -> np.ndarray:
        """A mask: which of these labels are mapped (FAISS's -1 for 'none' never is)."""
        pos, found = self._find(labels)
        mask = found & self._live[pos] if len(self._labels) else found
        if not self._added:
            return mask
        if len(labels) <= len(self._added):  # a row of search results: ask the dict
            mask |= np.fromiter((lb in self._added for lb in labels.tolist()), bool, len(labels))
        else:  # a whole catalog (a catch-up): sort the few added labels once
            added = np.sort(np.fromiter(self._added, np.int64, len(self._added)))
            at = np.minimum(np.searchsorted(added, labels), len(added) - 1)
            mask |= added[at] == labels
        out: np.ndarray = mask
        return out

    def not_in(self, labels: np.ndarray) -> list[str]:
        """The item ids mapped whose labels are not among `labels`."""
        wanted = np.sort(labels)
        if not len(wanted):
            return self.item_ids()
        at = np.minimum(np.searchsorted(wanted, self._labels), len(wanted) - 1)
        gone = self._live & (wanted[at] != self._labels)
        out = [i.decode() for i in self._ids[gone].tolist()]
        at = np.searchsorted(wanted, np.fromiter(self._added, np.int64, len(self._added)))
        for (label, item_id), n in zip(self._added.items(), at.tolist(), strict=True):
            if n >= len(wanted) or wanted[n] != label:
                out.append(item_id)
        return out

    def lookup(self, labels: np.ndarray) -> list[str]:
        """The item ids of mapped labels (check with `contains` first)."""
        pos, found = self._find(labels)
        out = []
        for label, p, base in zip(labels.tolist(), pos.tolist(), found.tolist(), strict=True):
            out.append(self._ids[p].decode() if base else self._added[label])
        return out

    def add(self, label: int, item_id: str) -> None:
        pos, found = self._find(np.array([label], np.int64))
        if found[0]:
            if not self._live[pos[0]]:  # removed since the load, and back
                self._live[pos[0]] = True
                self._base_count += 1
        else:
            self._added[label] = item_id

    def remove(self, label: int) -> None:
        if self._added.pop(label, None) is not None:
            return
        pos, found = self._find(np.array([label], np.int64))
        if found[0] and self._live[pos[0]]:
            self._live[pos[0]] = False
            self._base_count -= 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, ids) of every mapped item, sorted by label: what a save writes."""
        labels = np.concatenate(
            [self._labels[self._live], np.fromiter(self._added, np.int64, len(self._added))]
        )
        ids = np.concatenate(
            [self._ids[self._live], np.array(list(self._added.values()), dtype=ID_DTYPE)]
        )
        order = np.argsort(labels, kind="stable")
        return labels[order], ids[order]

    def item_ids(self) -> list[str]:
        return [i.decode() for i in self.arrays()[1].tolist()]
