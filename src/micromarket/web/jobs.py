"""Background jobs of the server: stage runs and campaign sends, each in a thread of its own,
through the stage runner, with their progress for the pages and the API.

A job holds the workspace while it runs (:class:`~micromarket.web.gate.WorkspaceGate`); reads
go on beside it through views of their own. Jobs live as long as the server: what they made is
in the workspace's tables and run logs, and the job list is the server's memory of them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import traceback
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from ..exceptions import MicromarketError, SchemaError

if TYPE_CHECKING:
    from ..workspace import Workspace
    from .gate import WorkspaceGate


def _profile(ws, step):
    from ..runner import run_profile

    result = run_profile(ws, progress=step)
    return {"customers": int(result.summary.get("customers", 0)) if hasattr(result, "summary") else None}


def _rule_segments(ws, step):
    from ..runner import run_rule_segments

    return {"segments": run_rule_segments(ws)}


def _clusters(ws, step):
    from ..runner import run_clusters

    run_clusters(ws, progress=step)
    return {}


def _markets(ws, step):
    from ..runner import run_micro_markets

    return {"rows": len(run_micro_markets(ws))}


def _stores(ws, step):
    from ..runner import run_store_clusters

    return {"clusters": int(run_store_clusters(ws).k)}


def _assortment(ws, step):
    from ..runner import run_assortment

    run_assortment(ws, progress=step)
    return {}


def _offers(ws, step):
    from ..runner import run_offer_plan, run_offer_scores

    step("scoring offers")
    scores = run_offer_scores(ws)
    run_offer_plan(ws, scores, progress=step)
    return {}


def _report(ws, step):
    from ..runner import run_report

    return {"path": str(run_report(ws))}


#: The stages ``POST /api/v1/runs`` starts, by name, with the settings of ``micromarket.toml``.
STAGES: dict[str, Callable[["Workspace", Callable[[str], None]], dict]] = {
    "profile": _profile, "segments": _rule_segments, "clusters": _clusters, "markets": _markets, "stores": _stores,
    "assortment": _assortment, "offers": _offers, "report": _report,
}


@dataclass
class Job:
    """One background job and where it stands."""

    job_id: int
    kind: str
    target: str
    started_by: str
    status: str = "running"
    step: str = "starting"
    done: int = 0
    total: int = 0
    started_at: str = field(default_factory=lambda: dt.datetime.now().isoformat(timespec="seconds"))
    finished_at: str | None = None
    error: str | None = None
    result: dict[str, Any] = field(default_factory=dict)

    def public(self) -> dict:
        return asdict(self)


class Jobs:
    """The server's background jobs (see the module)."""

    def __init__(self, gate: "WorkspaceGate"):
        self.gate = gate
        self._jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def start(self, kind: str, target: str, who: str, work: Callable[["Workspace", Job], dict]) -> Job:
        """Run ``work(ws, job)`` in a thread; ``kind`` and ``target`` say what it is (``stage``
        ``profile``, ``campaign`` ``spring``). One job per target at a time."""
        with self._lock:
            if self.running_target(kind, target):
                raise SchemaError(f"{kind} {target!r} is already running")
            job = Job(next(self._ids), kind, target, who)
            self._jobs[job.job_id] = job
        threading.Thread(target=self._run, args=(job, work), name=f"job-{job.job_id}", daemon=True).start()
        return job

    def start_stage(self, stage: str, who: str) -> Job:
        if stage not in STAGES:
            raise SchemaError(f"stage {stage!r} is not one of {', '.join(STAGES)}")

        def work(ws: "Workspace", job: Job) -> dict:
            return STAGES[stage](ws, lambda step: setattr(job, "step", step))

        return self.start("stage", stage, who, work)

    def _run(self, job: Job, work: Callable[["Workspace", Job], dict]) -> None:
        try:
            with self.gate.use() as ws:
                job.result = work(ws, job) or {}
            job.status = "done"
        except MicromarketError as exc:
            job.status, job.error = "failed", str(exc)
        except Exception as exc:  # a bug: the job says so rather than dying silently
            job.status = "failed"
            job.error = f"unexpected failure ({type(exc).__name__}: {exc}); " + traceback.format_exc(limit=3)[-500:]
        finally:
            job.step = job.status
            job.finished_at = dt.datetime.now().isoformat(timespec="seconds")

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: -j.job_id)

    def running_target(self, kind: str, target: str) -> bool:
        """Whether a job of ``kind`` on ``target`` is running now."""
        return any(j.kind == kind and j.target == target and j.status == "running" for j in self._jobs.values())

    def running(self) -> bool:
        return any(j.status == "running" for j in self._jobs.values())


__all__ = ["Job", "Jobs", "STAGES"]
