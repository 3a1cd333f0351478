"""The catalog-size benchmarks run end to end on a small catalog and say what they measure
(the figures themselves are for `lookalike bench`, never asserted as times here)."""

from __future__ import annotations

import pytest

from bench import catchup, filters, listing, storage
from bench.common import print_table


def test_list_bench_pages_a_catalog() -> None:
    result = listing.run(3000)
    assert set(result["pages_ms"]) >= {"first page", "a page from the middle (cursor)"}
    assert all(row["figure"] for row in listing.rows(result))


def test_catchup_bench_folds_in_by_row_version() -> None:
    result = catchup.run(3000)
    assert result["catch_ups"]["incremental"] >= catchup.ROUNDS
    assert result["catch_ups"]["rescan"] == catchup.ROUNDS  # the comparison, asked for
    assert catchup.rows(result)[-1]["value"] == result["rescan_ms"]


def test_filter_bench_gets_every_match() -> None:
    result = filters.run(3000, queries_per_filter=4)
    for name, figures in result["filters"].items():
        assert figures["fewest_hits"] == min(filters.K, figures["matching"]), name
        assert figures["recall"] == 1.0, name  # a flat index at this size: exact


def test_storage_bench_prints_each_figure_for_both_homes_and_their_ratio(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The figures need two server starts per home (minutes); their table does not."""
    home = {"ingest_img_s": 20.0, "query_p50_ms": 4.0, "cold_start_s": 10.0}
    result = {"count": 8, "local": home, "s3": {k: 2 * v for k, v in home.items()}}
    print_table(storage.rows(result), "storage")
    out = capsys.readouterr().out
    assert out.count("S3 / local") == 3 and "2.0" in out
