"""The `lookalike` command: --help everywhere, and the main flows as a user runs them."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.images import jpeg

runner = CliRunner()
SMALL = ["--model", "resnet18", "--weights", "none", "--device", "cpu"]
COMMANDS = ["ingest", "search", "info", "items", "eval", "serve", "demo"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def test_ingest_search_info_flow(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog" / "nested"
    catalog.mkdir(parents=True)
    for i in range(6):
        (catalog / f"img{i}.jpg").write_bytes(jpeg(i))
    (catalog / "broken.jpg").write_bytes(b"not an image at all")
    data = ["--data-dir", str(tmp_path / "data")]

    first = runner.invoke(app, ["ingest", str(tmp_path / "catalog"), *data, *SMALL])
    assert first.exit_code == 0, first.output
    assert "6 added, 0 already there, 1 failed" in first.output
    assert "broken.jpg: The file is not an image" in first.output

    again = runner.invoke(app, ["ingest", str(tmp_path / "catalog"), *data, *SMALL, "--json"])
    assert json.loads(again.output)["added"] == 0

    found = runner.invoke(
        app,
        ["search", str(catalog / "img3.jpg"), "-k", "3", "--include-self", "--json", *data, *SMALL],
    )
    hits = json.loads(found.output)
    assert found.exit_code == 0 and hits[0]["source"].endswith("img3.jpg") and len(hits) == 3

    by_id = runner.invoke(app, ["search", hits[0]["item_id"], "-k", "2", *data])
    assert (
        by_id.exit_code == 0
        and "rank" in by_id.output
        and hits[0]["item_id"][:16] not in by_id.output
    )

    info = runner.invoke(app, ["info", "--json", *data])
    facts = json.loads(info.output)
    assert facts["model_id"] == "resnet18.none.gem.512" and facts["indexed"] == 6
    assert (
        facts["items_by_status"] == {"embedded": 6, "failed": 1} and facts["index_type"] == "flat"
    )

    # the listing, a page at a time: each page's last line says how to get the next
    seen, after = [], []
    while True:
        page = runner.invoke(app, ["items", "--limit", "3", "--json", *after, *data])
        assert page.exit_code == 0, page.output
        body = json.loads(page.output)
        seen += [it["id"] for it in body["items"]]
        if body["next"] is None:
            break
        after = ["--after", body["next"]]
    assert len(seen) == len(set(seen)) == 7
    failed = runner.invoke(app, ["items", "--status", "failed", *data])
    assert failed.output.count("failed") == 1 and "broken.jpg" in failed.output
    assert "next: lookalike items --after" in runner.invoke(app, ["items", "-n", "2", *data]).output
    bad = runner.invoke(app, ["items", "--after", "yesterday", *data])
    assert bad.exit_code == 2 and "is not a key printed by `lookalike items`" in bad.output


def test_a_manifest_names_products_and_search_answers_products(tmp_path: Path) -> None:
    """Three products of three photos and two photos of none, from a CSV manifest; a
    grouped search answers each product once, with its photos."""
    (tmp_path / "imgs").mkdir()
    rows = []
    for n in range(11):
        (tmp_path / "imgs" / f"{n}.jpg").write_bytes(jpeg(n))
        rows.append({"path": f"{n}.jpg", "product": f"P{n // 3}" if n < 9 else ""})
    with (tmp_path / "imgs" / "list.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["path", "product"])
        writer.writeheader()
        writer.writerows(rows)
    data = ["--data-dir", str(tmp_path / "data")]
    manifest = ["--manifest", str(tmp_path / "imgs" / "list.csv")]
    done = runner.invoke(app, ["ingest", *manifest, *data, *SMALL])
    assert done.exit_code == 0 and "11 added" in done.output, done.output
    args = ["search", str(tmp_path / "imgs" / "4.jpg"), "-k", "5", "--include-self", *data, *SMALL]
    found = runner.invoke(app, [*args, "--group-by", "product", "--group-size", "3", "--json"])
    assert found.exit_code == 0, found.output
    groups = json.loads(found.output)
    assert groups[0]["product"] == "P1" and groups[0]["hits"][0]["source"].endswith("4.jpg")
    assert len(groups) == 5 and len({g["key"] for g in groups}) == 5  # 3 products, 2 photos
    assert {g["product"]: len(g["hits"]) for g in groups if g["product"]} == {
        "P0": 3,
        "P1": 3,
        "P2": 3,
    }
    table = runner.invoke(app, [*args, "--group-by", "product"])
    assert table.exit_code == 0 and "P1" in table.output
    bad = runner.invoke(app, [*args, "--group-by", "colour"])
    assert bad.exit_code == 2 and "colour" in bad.output


def test_errors_are_one_line_and_non_zero(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    missing = runner.invoke(app, ["ingest", str(tmp_path / "nope"), *data, *SMALL])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    empty = runner.invoke(app, ["info", *data])
    assert empty.exit_code == 0
    nothing = runner.invoke(app, ["search", "0" * 64, *data])
    assert nothing.exit_code == 2 and "empty; run lookalike ingest first" in nothing.output
    badk = runner.invoke(app, ["search", "x", "-k", "0", *data])
    assert badk.exit_code == 2


def _labelled_set(root: Path, groups: int, copies: int, seed: int = 0) -> Path:
    from tests.images import encode, scene

    (root / "images").mkdir(parents=True)
    rows = []
    for group in range(groups):
        for copy in range(copies):
            name = f"g{group}_{copy}.jpg"
            img = scene(seed + group).resize((160 + 20 * copy, 128 + 16 * copy))
            (root / "images" / name).write_bytes(encode(img, "JPEG", quality=80 + copy * 5))
            rows.append({"image": name, "group": f"g{group}"})
    with (root / "groundtruth.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, ["image", "group"])
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_eval_on_a_labelled_folder(tmp_path: Path) -> None:
    root = _labelled_set(tmp_path / "dataset", groups=3, copies=3)
    configs = "plain,qe,ms,whiten,whiten+qe"
    result = runner.invoke(
        app, ["eval", str(root), "--json", "--input-size", "96", "--configs", configs, *SMALL]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    reports = {r["config"]: r for r in out["sets"]["dataset"]}
    assert list(reports) == configs.split(",")
    plain = reports["plain"]
    assert plain["model_id"] == "resnet18.none.gem-s96.512"
    assert plain["queries"] == 9 and plain["map"] > 0.9 and plain["recall_at_1"] == 1.0
    assert plain["chance_map"] == pytest.approx(2 / 8)
    assert plain["ns_score"] == pytest.approx(3.0)  # itself and its 2 copies: all of group
    assert {g["group"] for g in plain["groups"]} == {"g0", "g1", "g2"}
    assert all(0 < r["map"] <= 1 for r in reports.values())
    assert [m["config"] for m in out["mean"]] == configs.split(",")  # one set: its own mean
    assert out["mean"][0]["map"] == pytest.approx(plain["map"])
    table = runner.invoke(app, ["eval", str(root), *SMALL])
    assert "mAP" in table.output and "chance" in table.output and "g1" in table.output
    assert "whiten+qe" in table.output and "N-S" in table.output
    bad = runner.invoke(app, ["eval", str(root), "--configs", "magic", *SMALL])
    assert bad.exit_code == 2 and "not an eval configuration" in bad.output


def test_eval_of_two_sets_prints_each_and_their_mean(tmp_path: Path) -> None:
    landmarks = _labelled_set(tmp_path / "landmarks", groups=3, copies=3)
    objects = _labelled_set(tmp_path / "objects", groups=2, copies=4, seed=7)
    args = ["eval", str(landmarks), str(objects), "--configs", "plain,qe", *SMALL]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert set(out["sets"]) == {"landmarks", "objects"}
    by_set = {name: reports[0] for name, reports in out["sets"].items()}
    assert by_set["objects"]["images"] == 8 and by_set["landmarks"]["images"] == 9
    mean = out["mean"][0]
    assert mean["datasets"] == ["landmarks", "objects"]
    assert mean["map"] == pytest.approx((by_set["landmarks"]["map"] + by_set["objects"]["map"]) / 2)
    assert mean["worst_map"] == min(r["map"] for r in by_set.values())
    table = runner.invoke(app, args)
    assert "mean over 2 sets (landmarks, objects)" in table.output
    twice = runner.invoke(app, ["eval", str(landmarks), str(landmarks), *SMALL])
    assert twice.exit_code == 2 and "same folder name" in twice.output


def test_installed_command_reports_unreachable_weights(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "lookalike")
    image = tmp_path / "q.jpg"
    image.write_bytes(jpeg(1))
    env = {**os.environ, "TORCH_HOME": str(tmp_path / "torch"), "LOOKALIKE_ALLOW_DOWNLOAD": "false"}
    result = subprocess.run(
        [exe, "ingest", str(image), "--data-dir", str(tmp_path / "data"), "--model", "resnet50"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith("error: No resnet50 IMAGENET1K_V2 weights")
    assert "TORCH_HOME" in lines[0] and "--weights PATH" in lines[0] and "download" in lines[0]


def test_a_catalog_home_that_cannot_be_used_is_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOKALIKE_DATA_URI", "ftp://files.example/catalog")
    unknown = runner.invoke(app, ["info", "-d", str(tmp_path)])
    assert unknown.exit_code == 2 and "neither a folder nor an s3://" in unknown.output
    from workers.process import free_port

    monkeypatch.setenv("LOOKALIKE_DATA_URI", "s3://nobody-here/catalog")
    monkeypatch.setenv("LOOKALIKE_STORAGE_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    unreachable = runner.invoke(app, ["info", "-d", str(tmp_path)])
    assert unreachable.exit_code == 2, unreachable.output
    assert "cannot be opened" in unreachable.output
