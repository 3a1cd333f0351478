from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.schemas import HealthOut, ReadyOut
from api.services import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, summary="The process is alive")
async def health() -> HealthOut:  # on the event loop: alive even if threads are busy
    return HealthOut()


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="The index is loaded, matches the model, and ingest can run",
    responses={503: {"model": ReadyOut, "description": "Not ready, with the reason."}},
)
def ready(services: ServicesDep) -> ReadyOut | JSONResponse:
    engine = services.engine
    try:
        catalog = engine.catalog
    except Exception as exc:
        body = ReadyOut(ready=False, model_id=engine.active_model_id, indexed=0, detail=str(exc))
        return JSONResponse(body.model_dump(), status_code=503)
    queue_ok, queue_detail = services.queue.health()
    body = ReadyOut(
        ready=queue_ok,
        model_id=catalog.model_id,
        indexed=len(catalog.index),
        detail=f"serving {len(catalog.index)} items with {catalog.model_id}; {queue_detail}",
    )
    return body if queue_ok else JSONResponse(body.model_dump(), status_code=503)
