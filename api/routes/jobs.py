from typing import Any

from fastapi import APIRouter, Query

from api.access import needs
from api.keys import Scope
from api.schemas import ErrorOut, JobOut
from api.services import ServicesDep

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such job."}
}


@router.get(
    "",
    response_model=list[JobOut],
    summary="Recent jobs, newest first",
    openapi_extra=needs(Scope.admin),
)
def list_jobs(services: ServicesDep, limit: int = Query(50, ge=1, le=1000)) -> list[JobOut]:
    jobs = services.engine.store.list_jobs(limit)
    return [JobOut.of(services.queue.job(j.id) if j.status == "running" else j) for j in jobs]


@router.get(
    "/{job_id}",
    response_model=JobOut,
    summary="A job's status, counts, rate and ETA",
    responses=NOT_FOUND,
    openapi_extra=needs(Scope.admin),
)
def get_job(services: ServicesDep, job_id: str) -> JobOut:
    return JobOut.of(services.queue.job(job_id))


@router.post(
    "/{job_id}/cancel",
    response_model=JobOut,
    summary="Cancel a job",
    description="Batches not started yet are skipped; a finished job stays finished.",
    responses=NOT_FOUND,
    openapi_extra=needs(Scope.admin),
)
def cancel_job(services: ServicesDep, job_id: str) -> JobOut:
    return JobOut.of(services.queue.cancel(job_id))


@router.post(
    "/{job_id}/resume",
    response_model=JobOut,
    summary="Resume a cancelled job",
    description="Sends again every batch that is not done; done items are skipped.",
    responses=NOT_FOUND,
    openapi_extra=needs(Scope.admin),
)
def resume_job(services: ServicesDep, job_id: str) -> JobOut:
    return JobOut.of(services.queue.resume(job_id))
