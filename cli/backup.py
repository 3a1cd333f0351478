"""`lookalike snapshot create|restore`: a backup of the whole catalog, and a new catalog
home made from one."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from tqdm import tqdm

from cli.app import app
from cli.common import guard
from cli.options import DataDir, Json, make_engine, settings_with

snapshot_app = typer.Typer(
    help="Backups: every table (items, vectors of every model, jobs, state, API keys) at one "
    "version each, every image, projections, the cursor key and the index snapshots, to a "
    "folder or an object "
    "store (s3://bucket/prefix with the catalog's LOOKALIKE_STORAGE_* credentials).",
    no_args_is_help=True,
)
app.add_typer(snapshot_app, name="snapshot")

Where = Annotated[str, typer.Argument(help="A folder, or s3://bucket/prefix (gs://, az://).")]


class _Bars:
    """One progress bar per table and one for the images, as the copy reaches them."""

    def __init__(self) -> None:
        self.bars: dict[str, tqdm[None]] = {}

    def __call__(self, what: str, count: int) -> None:
        bar = self.bars.get(what)
        if bar is None:
            bar = self.bars[what] = tqdm(desc=what, unit="row", file=sys.stderr, leave=False)
        bar.update(count)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _say(report: object, as_json: bool, verb: str) -> None:
    from engine.backup import BackupReport

    assert isinstance(report, BackupReport)
    if as_json:
        typer.echo(report.to_json())
        return
    rows = ", ".join(f"{n} {t}" for t, n in sorted(report.tables.items()))
    typer.echo(
        f"{verb} {report.where}: {rows}; {report.images} images, {report.objects} other "
        f"objects, in {report.seconds:.1f} s"
    )


@snapshot_app.command("create")
@guard
def create_cmd(where: Where, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Back the catalog up to a new place (refused where a backup already is). Safe while
    the catalog is served: each table is copied at the version it had when the copy began."""
    from engine.backup import create_backup, location_of

    engine = make_engine(data_dir)
    bars = _Bars()
    try:
        target = location_of(where, engine.index_settings)
        report = create_backup(engine.store, engine.location, target, bars)
    finally:
        bars.close()
    _say(report, as_json, "backed up to")


@snapshot_app.command("restore")
@guard
def restore_cmd(where: Where, data_dir: DataDir = None, as_json: Json = False) -> None:
    """Make a new catalog home (--data-dir, or LOOKALIKE_DATA_URI) from a backup. The home
    must hold nothing yet; the index is built from the restored vectors when it first
    opens."""
    from engine.backup import location_of, restore_backup
    from index import DataLocation, IndexSettings

    settings = settings_with(IndexSettings, data_dir=data_dir)
    bars = _Bars()
    try:
        report = restore_backup(
            location_of(where, settings), DataLocation.from_settings(settings), bars
        )
    finally:
        bars.close()
    _say(report, as_json, "restored into")
