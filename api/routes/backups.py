"""Backups over HTTP (admin): made into LOOKALIKE_BACKUP_DIR by name, and listed. Restoring
makes a new catalog home, which a serving process does not own: that is
`lookalike snapshot restore`."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.access import needs
from api.errors import ApiError
from api.keys import Scope
from api.schemas import ErrorOut
from api.services import Services, ServicesDep
from engine.backup import MANIFEST, BackupReport, create_backup, read_backup
from engine.errors import EngineError
from index import DataLocation

router = APIRouter(prefix="/v1/admin/snapshots", tags=["admin"])
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"  # one folder of the backup folder, no ".."


class BackupCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "nightly"}]})

    name: str = Field(pattern=NAME, description="The backup's folder in LOOKALIKE_BACKUP_DIR.")


class BackupOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "nightly",
                    "where": "/backups/nightly",
                    "schema_version": 2,
                    "created_at": "2026-12-01T22:00:00+00:00",
                    "tables": {"items": 1200, "api_keys": 2},
                    "versions": {"items": 31, "api_keys": 3},
                    "images": 1200,
                    "objects": 1,
                    "indexes": ["resnet50.imagenet1k_v2.gem.2048"],
                    "seconds": 4.2,
                }
            ]
        }
    )

    name: str
    where: str
    schema_version: int
    created_at: str
    tables: dict[str, int]
    versions: dict[str, int]
    images: int
    objects: int
    indexes: list[str] = []
    seconds: float

    @classmethod
    def of(cls, name: str, report: BackupReport) -> BackupOut:
        return cls(name=name, **report.__dict__)


def _folder(services: Services) -> Path:
    folder: Path | None = services.settings.backup_dir
    if folder is None:
        raise ApiError(
            409, "no_backup_dir", "Backups over HTTP need LOOKALIKE_BACKUP_DIR set on the server."
        )
    return folder


@router.post(
    "",
    response_model=BackupOut,
    status_code=201,
    summary="Back the catalog up, by name, into the server's backup folder",
    description="Every table at one version each, every image, projections, the cursor "
    "key and the index snapshots; restore with `lookalike snapshot restore DIR/NAME "
    "--data-dir NEW`.",
    responses={
        409: {"model": ErrorOut, "description": "No backup folder, or the name is taken."},
        422: {"model": ErrorOut, "description": "Not a valid name."},
    },
    openapi_extra=needs(Scope.admin),
)
async def create(services: ServicesDep, request: BackupCreate) -> BackupOut:
    target = DataLocation.local(_folder(services) / request.name)
    engine = services.engine
    report = await run_in_threadpool(create_backup, engine.store, engine.location, target)
    return BackupOut.of(request.name, report)


@router.get(
    "",
    response_model=list[BackupOut],
    summary="The backups in the server's backup folder",
    responses={409: {"model": ErrorOut, "description": "No backup folder is set."}},
    openapi_extra=needs(Scope.admin),
)
def list_backups(services: ServicesDep) -> list[BackupOut]:
    """Every whole backup this version can restore (one of another schema version, or cut
    short, is left out: `lookalike snapshot restore` says why for each)."""
    folder = _folder(services)
    found = []
    for manifest in sorted(folder.glob(f"*/{MANIFEST}")) if folder.is_dir() else []:
        try:
            report = read_backup(DataLocation.local(manifest.parent))
        except EngineError:
            continue
        found.append(BackupOut.of(manifest.parent.name, report))
    return found
