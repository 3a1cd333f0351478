"""The label -> item id map: loaded arrays plus changes behave like a plain dict; labels
read from Arrow columns equal the Python ones."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from index.idmap import IdMap
from index.vectors import VectorIndex, column_labels, label_of, labels_of


def item(n: int) -> str:
    return hashlib.sha256(str(n).encode()).hexdigest()


def test_random_changes_match_a_dict() -> None:
    rng = np.random.default_rng(0)
    loaded = [item(n) for n in range(500)]
    rng.shuffle(loaded)  # saved files are sorted; older ones may not be
    idmap = IdMap(np.array([label_of(i) for i in loaded], np.int64), loaded)
    model = {label_of(i): i for i in loaded}
    for step in range(2000):
        n = int(rng.integers(0, 800))  # some loaded, some new
        label = label_of(item(n))
        if rng.random() < 0.5:
            if label not in model:  # the index adds only labels it does not hold
                idmap.add(label, item(n))
                model[label] = item(n)
        else:
            idmap.remove(label)
            model.pop(label, None)
        if step % 100 == 0:
            assert len(idmap) == len(model)
    probe = np.array([label_of(item(n)) for n in range(800)] + [-1], np.int64)
    mask = idmap.contains(probe)
    assert mask.tolist() == [int(lb) in model for lb in probe.tolist()]
    for row in np.array_split(probe, 40):  # rows of search results, fewer than the added ids
        assert idmap.contains(row).tolist() == [int(lb) in model for lb in row.tolist()]
    assert idmap.lookup(probe[mask]) == [model[int(lb)] for lb in probe[mask].tolist()]
    labels, ids = idmap.arrays()
    assert labels.tolist() == sorted(model)
    assert [i.decode() for i in ids.tolist()] == [model[lb] for lb in sorted(model)]
    assert sorted(idmap.item_ids()) == sorted(model.values())
    some = probe[::3]  # what another reader holds: the map tells what it has beyond that
    beyond = sorted(i for lb, i in model.items() if lb not in set(some.tolist()))
    assert sorted(idmap.not_in(some)) == beyond
    assert sorted(idmap.not_in(np.zeros(0, np.int64))) == sorted(model.values())


def test_an_empty_map_holds_nothing() -> None:
    idmap = IdMap()
    assert len(idmap) == 0 and label_of(item(1)) not in idmap
    assert idmap.contains(np.array([5, -1], np.int64)).tolist() == [False, False]
    idmap.add(label_of(item(1)), item(1))
    assert idmap.lookup(np.array([label_of(item(1))], np.int64)) == [item(1)]
    assert idmap.arrays()[0].tolist() == [label_of(item(1))]


def test_labels_read_from_arrow_match_the_python_ones() -> None:
    ids = [item(n) for n in range(300)]
    column = pa.array(ids)
    assert column_labels(column).tolist() == labels_of(ids).tolist()
    # a slice (non-zero offset), upper-case hex, large strings and odd ids take their paths
    assert column_labels(column.slice(7, 50)).tolist() == labels_of(ids[7:57]).tolist()
    upper = [i.upper() for i in ids[:20]]
    assert column_labels(pa.array(upper)).tolist() == labels_of(upper).tolist()
    wide = pa.array(ids[:20], type=pa.large_string())
    assert column_labels(wide).tolist() == labels_of(ids[:20]).tolist()
    assert column_labels(pa.array(["12345"], type=pa.string())).tolist() == [0x12345]
    assert column_labels(pa.array([], type=pa.string())).tolist() == []


def test_an_index_answers_the_same_after_a_save_folds_its_added_ids() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((60, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [item(n) for n in range(60)]
    index = VectorIndex(8)
    index.add(ids[:40], vectors[:40])
    index.remove(ids[:5])
    before = index.search(vectors[10:20], 3)
    labels, saved = index.id_arrays()  # what a save writes
    assert labels.tolist() == sorted(labels_of(ids[5:40]).tolist())
    assert sorted(i.decode() for i in saved.tolist()) == sorted(ids[5:40])
    assert index.search(vectors[10:20], 3) == before and len(index) == 35
    index.add(ids[40:], vectors[40:])
    index.remove(ids[5:10])
    assert len(index) == 50 and ids[45] in index and ids[7] not in index
    assert index.search(vectors[45], 1)[0][0][0] == ids[45]
