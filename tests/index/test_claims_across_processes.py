"""Several processes claiming the same new keys at once (two finishers adding a reindex's
catch-up round, two registrations of one upload): each key ends with one row and one
winner. Lance detects two merge_inserts of one new key as a conflict only when the key is
declared the table's primary key; before it was, four writers claiming 40 batch keys left
70 rows, and a reindex counted thousands of items more than it held."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from index import Store

pytestmark = pytest.mark.slow
WRITERS, KEYS = 4, 30

CLAIMER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from index import Batch, Store
from tests.index.helpers import ids, items
store = Store(Path(sys.argv[1]))
print("ready", flush=True)
sys.stdin.readline()  # every writer starts at once
won = 0
for n in range(int(sys.argv[2])):
    t = datetime.now(UTC)
    batch = Batch(key=f"job:{n}", job_id="job", batch_no=n, item_ids=["x"], sent_at=t, updated_at=t)
    won += store.claim_batch(batch)
    store.register_items(items(ids(1, prefix=f"item{n}")))
print("won", won, flush=True)
"""


def test_concurrent_claims_of_one_key_leave_one_row_and_one_winner(tmp_path: Path) -> None:
    root = tmp_path / "lancedb"
    Store(root)  # the tables, made once, as the API makes them before any worker writes
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, str(root), str(KEYS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(WRITERS)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    wins = 0
    for p in procs:
        out, _ = p.communicate(timeout=240)
        assert p.returncode == 0, out
        wins += int(out.split()[-1])
    store = Store(root)
    batch_keys = Counter(b.key for b in store.job_batches("job"))
    assert len(batch_keys) == KEYS and max(batch_keys.values()) == 1, batch_keys.most_common(3)
    assert wins == KEYS  # one winner a key: the round belongs to one finisher
    item_ids = store.items.to_arrow().column("id").to_pylist()
    assert len(item_ids) == len(set(item_ids)) == KEYS
