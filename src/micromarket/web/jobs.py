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
import time
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
        self._threads: list[threading.Thread] = []

    def start(self, kind: str, target: str, who: str, work: Callable[["Workspace", Job], dict]) -> Job:
        """Run ``work(ws, job)`` in a thread; ``kind`` and ``target`` say what it is (``stage``
        ``profile``, ``campaign`` ``spring``). One job per target at a time."""
        with self._lock:
            if self.running_target(kind, target):
                raise SchemaError(f"{kind} {target!r} is already running")
            job = Job(next(self._ids), kind, target, who)
            self._jobs[job.job_id] = job
        thread = threading.Thread(target=self._run, args=(job, work), name=f"job-{job.job_id}", daemon=True)
        self._threads.append(thread)
        thread.start()
        return job

    def start_stage(self, stage: str, who: str) -> Job:
        if stage not in STAGES:
            raise SchemaError(f"stage {stage!r} is not one of {', '.join(STAGES)}")

        def work(ws: "Workspace", job: Job) -> dict:
            return STAGES[stage](ws, lambda step: setattr(job, "step", step))

        return self.start("stage", stage, who, work)

    def launch_campaign(self, name: str, who: str) -> Job:
        """Launch the draft campaign ``name`` and send it in the background (audited)."""
        from ..access import audited
        from ..campaigns.campaign import get_campaign
        from ..runner import run_launch_campaign
        from ..storage.base import json_ready

        with self.gate.use() as ws:
            campaign = get_campaign(ws, name)
            if campaign.status != "draft":
                raise SchemaError(f"campaign {name!r} is {campaign.status}: only a draft can be launched")
            audited(ws, who, "campaign.launch", name, {})

        def work(ws: "Workspace", job: Job) -> dict:
            def progress(done: int, total: int) -> None:
                job.done, job.total, job.step = done, total, "sending"

            outcome = run_launch_campaign(ws, name, progress=progress)
            return json_ready(getattr(outcome, "__dict__", {}))

        return self.start("campaign", name, who, work)

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

    def stop(self, timeout: float = 60.0) -> None:
        """Before the server stops: ask every sending campaign to pause (it stops before its next
        message, with its ledger settled; ``campaign resume`` goes on) and wait for the jobs."""
        from ..campaigns.send import request_pause

        for job in self.all():
            if job.status == "running" and job.kind == "campaign":
                request_pause(self.gate.root, job.target)
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))

    def running_target(self, kind: str, target: str) -> bool:
        """Whether a job of ``kind`` on ``target`` is running now."""
        return any(j.kind == kind and j.target == target and j.status == "running" for j in self._jobs.values())

    def running(self) -> bool:
        return any(j.status == "running" for j in self._jobs.values())


__all__ = ["Job", "Jobs", "STAGES"]
