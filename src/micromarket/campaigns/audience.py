"""Who a campaign is for: its audience, the workspace's global control group, and the
campaign's randomised holdout, stratified by segment and value tier.

Both random draws are hashes, not a random number generator: a customer's bucket is the first
eight hex digits of SHA-256 over a salt and the customer id, computed by the engine (DuckDB and
Spark give the same digest). So the global control is stable from run to run, a customer who
arrives later joins it at the same share without anyone being moved, and the holdout of a
campaign is the same whichever engine draws it.

- **Global control.** A customer is in it when their bucket under the current generation's salt
  is below the share (1-15 %, ``[campaigns] control_share``). It is never contacted by marketing
  campaigns. ``reshuffle_control`` starts a new generation with a new salt; the old generations
  stay in ``control_groups``, so measurement can tell who was in it when.
- **Holdout.** Within each stratum (segment x value tier), customers are ordered by their bucket
  under the campaign's seed, and the first ``round(share x size)`` are held out: the share is met
  in every stratum up to rounding (half a customer).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

from ..exceptions import NotFoundError, SchemaError
from ..storage.base import Output, Write

if TYPE_CHECKING:
    import ibis.expr.types as ir

    from ..workspace import Workspace

#: Hex digits of the digest a bucket is read from (32 bits: ties are one in four billion).
BUCKET_DIGITS = 8
#: The global control's share must lie in this range.
CONTROL_SHARES = (0.01, 0.15)
#: The stratum of customers without a profile (no purchases yet).
UNPROFILED = "unprofiled"


def bucket(salt: str, customer_id: "ir.StringValue") -> "ir.StringValue":
    """A customer's uniform bucket under ``salt``, as :data:`BUCKET_DIGITS` hex digits (compared as text)."""
    return (ibis.literal(f"{salt}:") + customer_id).hexdigest("sha256").substr(0, BUCKET_DIGITS)


def threshold(share: float) -> str:
    """The bucket below which a share of customers falls, as hex digits comparable with :func:`bucket`.

    >>> threshold(0.5)
    '80000000'
    """
    return format(round(share * 16**BUCKET_DIGITS), f"0{BUCKET_DIGITS}x")


# -- global control --------------------------------------------------------------------
def control_generation(ws: "Workspace") -> dict | None:
    """The current generation of the global control group (``control_groups`` row), or ``None``."""
    groups = ws.table("control_groups")
    rows = ws.storage.rows(groups.filter(groups.ended_at.isnull()).order_by(groups.generation.desc()).limit(1))
    return rows[0] if rows else None


def check_control_share(share: float, where: str = "[campaigns] control_share") -> None:
    low, high = CONTROL_SHARES
    if isinstance(share, bool) or not isinstance(share, (int, float)) or not low <= share <= high:
        raise SchemaError(f"{where} = {share!r}: the global control group's share must be between {low} and {high}")


def control_output(ws: "Workspace", share: float, reshuffle: bool = False, salt: str | None = None) -> Output | None:
    """The writes that start a generation of the global control group: the first one (when none
    exists), or a new one on ``reshuffle`` (a new salt; the current generation is ended, not
    deleted). ``None`` where the current generation already has this share and no reshuffle is asked.
    ``salt`` fixes a new generation's salt (the demo's, for reproducible runs); random by default."""
    check_control_share(share)
    current = control_generation(ws)
    if current and not reshuffle and abs(current["share"] - share) < 1e-12:
        return None
    now = dt.datetime.now().replace(microsecond=0)
    writes = []
    if current:
        ended = dict(current, ended_at=now)
        writes.append(Write("control_groups", pa.Table.from_pylist([ended]), mode="upsert", key=("generation",)))
    # A share change keeps the salt: customers below the old threshold stay in, and only the
    # difference joins or leaves. A reshuffle draws everyone anew.
    if reshuffle or not current:
        salt = salt or secrets.token_hex(16)
    else:
        salt = current["salt"]
    generation = (current["generation"] + 1) if current else 1
    writes.append(Write("control_groups", pa.Table.from_pylist([{
        "generation": generation, "salt": salt, "share": float(share), "started_at": now, "ended_at": None}]),
        mode="append"))
    return Output(writes)


def in_global_control(customer_id: "ir.StringValue", generation: dict | None) -> "ir.BooleanValue":
    """Whether a customer is in the global control group of ``generation`` (none: nobody is)."""
    if generation is None:
        return ibis.literal(False)
    return bucket(generation["salt"], customer_id) < threshold(generation["share"])


# -- audiences ---------------------------------------------------------------------------
def audience(ws: "Workspace", kind: str, value: str) -> "ir.Table":
    """The customers a campaign is for (``customer_id``, and ``offer`` and ``send_hour`` where the
    audience is the offer plan), each once.

    Parameters
    ----------
    kind : {"segment", "rule", "plan", "list"}
        A stored segment by name, a rule (see :mod:`micromarket.segments.rules`), the offer plan,
        or a list of customer ids given as a table (``list``: the caller loads the file).
    value : str
        The segment's name or the rule's text (unused for ``plan``).
    """
    if kind == "segment":
        return _segment(ws, value)
    if kind == "rule":
        from ..segments.context import rule_members

        return rule_members(ws, value).distinct()
    if kind == "plan":
        plan = ws.table("offer_plan")
        return plan.select("customer_id", "offer", "send_hour")
    if kind == "list":
        return ws.table("campaign_lists").filter(lambda t: t.campaign_id == value).select("customer_id").distinct()
    raise SchemaError(f"audience kind {kind!r}: expected segment, rule, plan or list")


def _segment(ws: "Workspace", name: str) -> "ir.Table":
    segments = ws.table("segments")
    found = ws.storage.rows(segments.filter(segments.name == name).select("segment_id"))
    if not found:
        known = [r["name"] for r in ws.storage.rows(segments.select("name").order_by("name").limit(20))]
        raise NotFoundError(f"segment {name!r} does not exist; segments: {', '.join(known) or 'none yet'}")
    members = ws.table("segment_members")
    return members.filter(members.segment_id == found[0]["segment_id"]).select("customer_id").distinct()


# -- holdout -------------------------------------------------------------------------------
def strata(ws: "Workspace", customers: "ir.Table") -> "ir.Table":
    """``customers`` with their stratum: RFM segment and value tier from the profile
    (:data:`UNPROFILED` for customers without one)."""
    profile = ws.table("customer_profile").select("customer_id", "rfm_segment", "value_tier")
    joined = customers.left_join(profile, "customer_id").drop("customer_id_right")
    stratum = (joined.rfm_segment.fill_null(UNPROFILED) + ibis.literal(" / ")
               + joined.value_tier.fill_null(UNPROFILED))
    return joined.mutate(stratum=stratum).drop("rfm_segment", "value_tier")


def assign_holdout(stratified: "ir.Table", share: float, seed: int) -> "ir.Table":
    """``stratified`` (with ``stratum``) with ``treatment_group``: ``control`` for the first
    ``round(share x size)`` customers of each stratum in the order of their bucket under ``seed``
    (ties, one in four billion, by customer id), ``treatment`` for the rest."""
    if not 0 <= share < 1:
        raise SchemaError(f"holdout share {share!r}: expected a share in [0, 1)")
    ordered = stratified.mutate(_bucket=bucket(f"holdout:{seed}", stratified.customer_id))
    window = ibis.window(group_by=ordered.stratum, order_by=[ordered._bucket, ordered.customer_id])
    ranked = ordered.mutate(_rank=ibis.row_number().over(window) + 1,
                            _size=ordered.count().over(ibis.window(group_by=ordered.stratum)))
    held = ranked._rank <= (ranked._size * share).round()
    return ranked.mutate(treatment_group=ibis.ifelse(held, "control", "treatment")).drop("_bucket", "_rank", "_size")


__all__ = ["audience", "assign_holdout", "bucket", "check_control_share", "control_generation", "control_output",
           "in_global_control", "strata", "threshold"]
