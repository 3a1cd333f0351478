"""Index snapshots shared through the catalog's object store, for processes on other hosts.

A save is written locally first (index/persistence.py: a folder, then CURRENT), then
published: every file of the folder is uploaded under its name, and only then the shared
CURRENT object is replaced, in one PUT. A reader follows the shared CURRENT and downloads
that folder into its local cache unless the cache has it already; a half-published folder
is never named by CURRENT, so it is never loaded. The local copy is a cache: which snapshot
is current is always read from the store.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from index.errors import IndexFileError
from index.persistence import CURRENT, Manifest, fresh_folder, point_to, seal
from index.storage import Objects

log = logging.getLogger(__name__)
KEEP_SHARED = 2  # the current snapshot and the one before, which a slow reader may still fetch
MANIFEST = "manifest.json"


def shared_current(shared: Objects) -> str | None:
    """The name of the snapshot the store calls current, or None when none was published."""
    try:
        return shared.get(CURRENT).decode().strip() or None
    except FileNotFoundError:
        return None


def shared_manifest(shared: Objects) -> Manifest | None:
    """The manifest of the store's current snapshot, read without downloading the index."""
    name = shared_current(shared)
    if name is None:
        return None
    try:
        return Manifest.model_validate_json(shared.get(f"{name}/{MANIFEST}"))
    except (OSError, ValueError) as exc:
        raise IndexFileError(
            f"The index manifest in {shared.where} is unreadable ({exc})."
        ) from exc


def publish(shared: Objects, folder: Path) -> bool:
    """Upload a saved snapshot folder, then name it current; False (and nothing named) when
    the store already names a newer one: a slower saver never rolls the index back."""
    name = folder.name
    for path in sorted(folder.iterdir()):
        if path.name != MANIFEST:
            shared.upload(path, f"{name}/{path.name}")
    shared.upload(folder / MANIFEST, f"{name}/{MANIFEST}")  # last: a folder with it is whole
    current = shared_current(shared)
    if current is not None and current > name:  # names are v<ns>: later sorts later
        log.info("snapshot %s not published: the store has the newer %s", name, current)
        shared.delete_tree(name)
        return False
    shared.put(CURRENT, name.encode())
    for old in [c for c in shared.children() if c.startswith("v")][:-KEEP_SHARED]:
        if old != name:
            shared.delete_tree(old)
    return True


def fetch(shared: Objects, root: Path) -> bool:
    """Make the local cache `root` hold the store's current snapshot and point at it;
    False when the store has none (a local snapshot is then not to be trusted)."""
    name = shared_current(shared)
    if name is None:
        return False
    if not (root / name / MANIFEST).is_file():
        tmp = fresh_folder(root, name)
        try:
            for file in shared.children(name):
                shared.download(f"{name}/{file}", tmp / file)
            if not (tmp / MANIFEST).is_file():
                raise FileNotFoundError(f"snapshot {name} in {shared.where} has no manifest")
            shutil.rmtree(root / name, ignore_errors=True)
            seal(tmp, root / name)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        log.info("index snapshot %s downloaded from %s", name, shared.where)
    point_to(root, name)
    return True
