from fastapi import APIRouter, Query

from api.schemas import ErrorOut, JobOut
from api.services import ServicesDep

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=list[JobOut], summary="Recent jobs, newest first")
def list_jobs(services: ServicesDep, limit: int = Query(50, ge=1, le=1000)) -> list[JobOut]:
    return [JobOut.of(j) for j in services.engine.store.list_jobs(limit)]


@router.get(
    "/{job_id}",
    response_model=JobOut,
    summary="A job's status and progress",
    responses={404: {"model": ErrorOut, "description": "No such job."}},
)
def get_job(services: ServicesDep, job_id: str) -> JobOut:
    return JobOut.of(services.engine.store.get_job(job_id))
