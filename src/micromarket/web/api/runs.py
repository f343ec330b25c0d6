"""``/runs``: start a stage in the background and follow its progress."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from ...access import audited
from ..jobs import STAGES
from ..security import guarded

router = APIRouter(prefix="/runs", tags=["runs"])


class RunIn(BaseModel):
    stage: str = Field(..., description=f"One of: {', '.join(STAGES)}")


@router.get("", summary="The server's background jobs, newest first", **guarded("viewer"))
def list_(request: Request) -> dict:
    return {"runs": [job.public() for job in request.app.state.jobs.all()]}


@router.post("", status_code=202, summary="Start a stage run in the background", **guarded("admin"))
def start(request: Request, body: RunIn) -> dict:
    who = request.state.principal
    job = request.app.state.jobs.start_stage(body.stage, who.actor)
    with request.app.state.gate.use() as ws:
        audited(ws, who.actor, "run.start", body.stage, {"job_id": job.job_id})
    return job.public()


@router.get("/{job_id}", summary="One background job: its step, progress and result", **guarded("viewer"))
def one(request: Request, job_id: int) -> dict:
    job = request.app.state.jobs.get(job_id)
    if job is None:
        raise HTTPException(404, f"no run {job_id} in this server's jobs")
    return job.public()
