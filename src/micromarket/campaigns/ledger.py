"""The send ledger: every message is recorded before it leaves and settled after, so that a
campaign stopped at any moment (a crash, ``kill -9``, a pause) resumes sending each remaining
message once, and none twice.

Two parts. ``campaign_sends`` holds a row per treated customer from launch (``queued``) and the
settled state of each message. A journal file beside the workspace
(``campaigns/<campaign>/journal.jsonl``) records each step of each message as it happens, one line
appended per step with a single ``write`` (no buffering in the process, so a killed process loses
nothing it wrote; the lines are folded into ``campaign_sends`` in batches, because a database commit
per message would cost more than sending it). The steps of one message:

``intent``
    Written before the channel is called. With no later step, the message never reached the
    point where the receiver could have it: resume sends it.
``committing``
    Written by the channel right before the step after which the receiver has the message (for
    SMTP, before the final ``.`` of DATA). With no later step the message is **in doubt**: the
    receiver almost surely has it (only a stop in the microseconds between this line and the
    final ``.`` leaves it undelivered). Resume does not send it again unless the channel's
    receiver drops repeats of a message id (the webhook's Idempotency-Key), or the user asks
    (``--resend-in-doubt``): a duplicate is worse than the rare loss. It is settled ``in_doubt``.
``sent`` / ``failed`` / ``bounced`` / ``skipped``
    The message's settled state (with the reason or the receiver's answer).
``retry``
    A temporary failure: resume tries again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

#: States a message is settled in.
SETTLED = ("sent", "failed", "bounced", "skipped", "in_doubt")
#: Steps written to the journal (see the module).
STEPS = ("intent", "committing", "retry", *SETTLED)


@dataclass(frozen=True)
class Step:
    """One journal line: a step of one message."""

    customer_id: str
    step: str
    reason: str | None = None
    provider_id: str | None = None
    at: str | None = None


class Journal:
    """The append-only journal of one campaign (see the module).

    Parameters
    ----------
    path : Path
        The journal file (created with its folder).
    sync : bool
        ``fsync`` after every line: survives a power cut as well as a killed process, at the
        cost of a disk flush per step.
    """

    def __init__(self, path: Path, sync: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.sync = sync
        self._fd: int | None = None

    def open(self) -> "Journal":
        # O_APPEND: each write lands at the end in one piece, whatever else has the file open.
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        return self

    def write(self, customer_id: str, step: str, reason: str | None = None, provider_id: str | None = None) -> None:
        """Append one step; returns once the line is in the operating system's hands."""
        assert step in STEPS, step
        record = {"c": customer_id, "s": step, "t": dt.datetime.now().isoformat(timespec="milliseconds")}
        if reason:
            record["r"] = reason[:500]
        if provider_id:
            record["p"] = provider_id[:200]
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())
        if self.sync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Journal":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def steps(self) -> Iterator[Step]:
        """Every complete line, in order (a line cut short by a stop mid-write is ignored)."""
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            for line in f:
                if not line.endswith(b"\n"):
                    break
                r = json.loads(line)
                yield Step(r["c"], r["s"], r.get("r"), r.get("p"), r.get("t"))

    def last_steps(self) -> dict[str, Step]:
        """Each customer's latest step."""
        return {step.customer_id: step for step in self.steps()}

    def truncate(self) -> None:
        """Empty the journal once its steps are folded into the ledger table."""
        with open(self.path, "wb"):
            pass


def outcome(step: Step, resend_in_doubt: bool) -> str | None:
    """The settled state a customer's latest journal step implies after a stop, or ``None``
    where the message is still to send (see the module)."""
    if step.step in SETTLED:
        return step.step
    if step.step == "committing":
        return None if resend_in_doubt else "in_doubt"
    return None  # intent (never reached the receiver) or retry


__all__ = ["Journal", "SETTLED", "STEPS", "Step", "outcome"]
