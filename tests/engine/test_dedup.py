"""Near duplicates, measured on generated copies (half size, JPEG quality 25, 80% crop,
mirrored) of real photos with efficientnet_lite0; the calibrated threshold's precision and
recall are printed for the closing note, and upload and search use the same threshold.

Each test builds on the module's one ingest (a fixture), not on another test having run
first: any one of them runs alone."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from itertools import combinations

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageOps

from api.app import create_app
from bench.common import OXFORD
from embedder import EmbedderSettings
from engine import Engine, Source, ingest
from engine.dedup import NEAR_DUPLICATE, duplicate_groups
from index import IndexSettings

pytestmark = [
    pytest.mark.slow,
    # The threshold is measured on real photos: on the score of photos scikit-image ships,
    # the catalog-relative calibration puts its floor at 0.89 and recall falls to 0.3 (the
    # retrieval issue's calibration work), so without the data set there is nothing to
    # measure.
    pytest.mark.skipif(not OXFORD.is_dir(), reason="needs ../shared/datasets/oxford5k-gt"),
]
KINDS = ("half", "jpeg-q25", "crop-80", "mirror")


def _originals() -> list[tuple[str, Image.Image]]:
    """Real photos of similar buildings: hard negatives for the threshold."""
    files = sorted(OXFORD.iterdir())[::8][:60]
    return [(f.name, Image.open(f).convert("RGB")) for f in files]


def _jpeg(img: Image.Image, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _copy(img: Image.Image, kind: str) -> bytes:
    w, h = img.size
    if kind == "half":
        return _jpeg(img.resize((w // 2, h // 2)))
    if kind == "jpeg-q25":
        return _jpeg(img, 25)
    if kind == "crop-80":
        return _jpeg(img.crop((w // 10, h // 10, w - w // 10, h - h // 10)))
    return _jpeg(ImageOps.mirror(img))


@pytest.fixture(scope="module")
def lite0(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    settings = EmbedderSettings(model="efficientnet_lite0", device="cpu")
    yield Engine(
        settings, IndexSettings(data_dir=tmp_path_factory.mktemp("dedup"), use_gpu="never")
    )


@pytest.fixture(scope="module")
def copies(lite0: Engine) -> tuple[Engine, dict[str, str], dict[str, str], int, int]:
    """The catalog: every photo, and four copies of each of a third of them, except the
    last photo (the upload test's own). Returns the engine, photo and kind per item id."""
    originals = _originals()[:-1]
    copied = originals[: len(originals) // 3]
    sources = [Source(uri=f"orig:{n}", data=_jpeg(img)) for n, img in originals]
    truth: dict[str, str] = {f"orig:{n}": n for n, _ in originals}
    for name, img in copied:
        for kind in KINDS:
            sources.append(Source(uri=f"{kind}:{name}", data=_copy(img, kind)))
            truth[f"{kind}:{name}"] = name
    report = ingest(lite0, sources)
    assert not report.failed
    photo_of = {o.item_id or "": truth[o.source] for o in report.outcomes}
    kind_of = {o.item_id or "": o.source.split(":")[0] for o in report.outcomes}
    return lite0, photo_of, kind_of, len(originals), len(copied)


def test_threshold_precision_and_recall_on_generated_copies(
    copies: tuple[Engine, dict[str, str], dict[str, str], int, int],
) -> None:
    lite0, photo_of, kind_of, n_originals, n_copied = copies
    predicted = set()
    for group in duplicate_groups(lite0.catalog, NEAR_DUPLICATE):
        predicted |= {frozenset(p) for p in combinations([i for i, _ in group], 2)}
    actual = {
        frozenset(p) for p in combinations(photo_of, 2) if photo_of[min(p)] == photo_of[max(p)]
    }
    found = predicted & actual
    precision = len(found) / max(1, len(predicted))
    recall = len(found) / len(actual)
    per_kind = {}
    for kind in KINDS:  # a copy counts as found when it is grouped with its original
        pairs = [p for p in actual if {kind_of[i] for i in p} == {"orig", kind}]
        per_kind[kind] = round(sum(p in predicted for p in pairs) / len(pairs), 3)
    print(
        f"\nnear-duplicate threshold {NEAR_DUPLICATE} (calibrated; floor "
        f"{lite0.catalog.calibration().floor:.3f}): {n_originals} photos, "
        f"{n_copied * len(KINDS)} copies; precision {precision:.3f}, recall {recall:.3f}; "
        f"recall by kind {per_kind}"
    )
    assert precision >= 0.95
    assert min(per_kind["mirror"], per_kind["jpeg-q25"], per_kind["half"]) >= 0.9


def test_upload_reports_a_near_duplicate_and_search_collapses_copies(
    copies: tuple[Engine, dict[str, str], dict[str, str], int, int],
) -> None:
    lite0 = copies[0]
    _, img = _originals()[-1]  # the photo left out of the catalog
    with TestClient(create_app(lite0)) as client:
        files = [("files", ("orig.jpg", _jpeg(img), "image/jpeg"))]
        first = client.post("/v1/items", files=files).json()["results"][0]
        mirror = [("files", ("mirror.jpg", _jpeg(ImageOps.mirror(img), 60), "image/jpeg"))]
        twin = client.post("/v1/items", files=mirror).json()["results"][0]
        assert twin["status"] == "added" and twin["near_duplicate_of"] == first["item_id"]
        assert twin["near_duplicate_similarity"] >= NEAR_DUPLICATE
        query = [("files", ("q.jpg", _copy(img, "half"), "image/jpeg"))]
        plain = client.post("/v1/search/image", files=query, data={"k": "5"}).json()["hits"]
        collapsed = client.post(
            "/v1/search/image", files=query, data={"k": "5", "collapse": "true"}
        ).json()["hits"]
        ids = [h["item_id"] for h in plain[:2]]
        assert set(ids) == {first["item_id"], twin["item_id"]}  # both copies on top
        assert sum(h["item_id"] in ids for h in collapsed) == 1  # one of them after collapse
        assert all(0 <= h["similarity"] <= 1 for h in plain)


def test_dedup_command_lists_the_groups(
    copies: tuple[Engine, dict[str, str], dict[str, str], int, int],
) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    lite0 = copies[0]
    data = str(lite0.index_settings.data_dir)
    result = CliRunner().invoke(app, ["dedup", "-d", data, "--json"])
    assert result.exit_code == 0, result.output
    groups = json.loads(result.stdout)  # the progress bar is on stderr
    assert len(groups) >= 3 and all(len(g) >= 2 for g in groups)
    assert all(g_item["similarity"] >= NEAR_DUPLICATE for g in groups for g_item in g)
    table = CliRunner().invoke(app, ["dedup", "-d", data, "--threshold", "0.99"])
    assert table.exit_code == 0 and "group(s) of near duplicates" in table.output
