"""Past campaigns from elsewhere: a file of members with their group, and optionally their
outcomes and coupons, imported as a campaign that ``micromarket measure`` measures and ``offers``
learns from.

A campaign run in another tool arrives as one row per member: who they are, which group they
were in (a control value such as ``control`` or ``No E-Mail``; any other value is a treatment
variant), when they were assigned, and perhaps their segment. Where the file also carries the
outcomes (Hillstrom's ``visit``, ``conversion``, ``spend``), they are stored as the members'
``campaign_outcomes`` as given (``source = imported``); without them, ``measure`` attributes the
members' purchases from the transactions like any campaign run here. Where it says which members
were issued a coupon and which redeemed it (and what it gave), those go to ``campaign_coupons``:
``measure`` reports redemption per group and counts the coupons' value among the campaign's costs
when the outcomes came with the file (attributed from the transactions, the lines' discounts
already hold it).

Every value is checked before anything is written: a bad one stops the import with the file,
row, column, value and rule, and nothing is half-written.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ..exceptions import IngestError
from ..schema.measure import CAMPAIGN_OUTCOMES
from ..storage.base import Output, Write
from .attribution import ALL

#: Outcomes an import may carry, and the rule their values follow.
OUTCOMES = {"converted": "binary", "visited": "binary", "purchases": "count", "revenue": "number", "margin": "number"}
#: Coupon fields an import may carry: issued (yes/no), redeemed (yes/no, or when), value (what it gave).
COUPONS = ("issued", "redeemed", "value")
#: How a yes/no column may say yes and no (compared in lower case; empty is no).
YES, NO = ("1", "true", "yes", "y"), ("0", "false", "no", "n", "")


@dataclass
class ImportSpec:
    """How to read a campaign file: which column is what."""

    campaign_id: str
    group: str = "treatment_group"
    control: tuple[str, ...] = ("control",)
    customer: str | None = "customer_id"
    assigned: str | None = None
    assigned_at: dt.datetime | None = None
    segment: str | None = None
    outcomes: dict[str, str] = field(default_factory=dict)    # metric -> column
    coupons: dict[str, str] = field(default_factory=dict)     # coupon field (COUPONS) -> column
    days: int = 14
    holdout_share: float | None = None
    contact_cost: float = 0.0
    channel: str = "imported"


def _fail(path: Path, row: int | None, column: str, value, rule: str, message: str) -> IngestError:
    where = f"row {row}, " if row is not None else ""
    shown = "(empty)" if value in (None, "") else repr(str(value)[:80])
    return IngestError(f"{path}: {where}column {column!r}: value {shown} {message} (rule {rule}). Nothing was imported.",
                       [{"row": row, "column": column, "value": value, "rule": rule, "message": message}])


def read_campaign(path: str | Path, spec: ImportSpec) -> pd.DataFrame:
    """The file's members, checked: ``customer_id``, ``treatment_group``, ``variant``,
    ``assigned_at``, ``segment`` and the outcome columns of ``spec`` under their metric names."""
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"{path}: no such file")
    raw = (_text(pd.read_parquet(path)) if path.suffix == ".parquet"
           else pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python"))
    _check_coupon_fields(path, spec)
    needed = [c for c in (spec.group, spec.customer, spec.assigned, spec.segment, *spec.outcomes.values(),
                          *spec.coupons.values()) if c]
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise IngestError(f"{path}: no column(s) {', '.join(map(repr, missing))}; the file has "
                          f"{', '.join(map(repr, raw.columns))}. Nothing was imported.")
    rows = np.arange(1, len(raw) + 1)
    out = pd.DataFrame({"customer_id": _customers(path, raw, spec, rows)})
    group = raw[spec.group].str.strip()
    _require(path, group, spec.group, rows)
    control = group.str.lower().isin([c.strip().lower() for c in spec.control])
    out["treatment_group"] = np.where(control, "control", "treatment")
    out["variant"] = np.where(control, None, group)
    out["assigned_at"] = _assigned(path, raw, spec, rows)
    out["segment"] = raw[spec.segment].str.strip().replace("", ALL) if spec.segment else ALL
    for metric, column in spec.outcomes.items():
        out[metric] = _outcome(path, raw[column], column, OUTCOMES[metric], rows)
    if spec.coupons:
        out = out.join(_coupons(path, raw, spec.coupons, out, rows))
    return out


def _check_coupon_fields(path: Path, spec: ImportSpec) -> None:
    """Coupon fields are :data:`COUPONS`, and say which members redeemed: without that, a rate of
    nought would be made up."""
    unknown = sorted(set(spec.coupons) - set(COUPONS))
    if unknown:
        raise IngestError(f"{path}: coupon field(s) {', '.join(map(repr, unknown))}: expected {', '.join(COUPONS)}. "
                          "Nothing was imported.")
    if spec.coupons and "redeemed" not in spec.coupons:
        raise IngestError(f"{path}: coupons need the column saying who redeemed one (--coupon redeemed=COLUMN: "
                          "yes/no or when). Nothing was imported.")


def _coupons(path: Path, raw: pd.DataFrame, columns: dict[str, str], members: pd.DataFrame,
             rows: np.ndarray) -> pd.DataFrame:
    """``coupon_issued``, ``coupon_redeemed``, ``coupon_redeemed_at`` and ``coupon_value`` per member.

    ``redeemed`` (required) is yes/no or the time of redemption, at or after the member's
    assignment; without an ``issued`` column every treated member counts as issued one (the coupon
    went with the message). A redemption without an issue, or a redeemed coupon's value that is not
    a finite number >= 0, stops the import.
    """
    column = columns["redeemed"]
    text = raw[column].str.strip()
    dated = ~text.str.lower().isin(YES + NO)
    when = _timestamps(text.where(dated, ""))
    redeemed = _yes_no(path, text.where(~dated | when.isna(), "1"), column, rows, "yes/no or a date and time")
    early = (when < members["assigned_at"]).to_numpy()
    if early.any():
        at = int(np.argmax(early))
        raise _fail(path, int(rows[at]), column, text.iloc[at], "redeemed-after-assigned",
                    f"is before the member was assigned ({members['assigned_at'].iloc[at]})")
    inferred = "issued" not in columns
    issued = (members["treatment_group"].eq("treatment").astype("int64") if inferred
              else _yes_no(path, raw[columns["issued"]].str.strip(), columns["issued"], rows, "yes/no"))
    orphan = (redeemed.eq(1) & issued.eq(0)).to_numpy()
    if orphan.any():
        at = int(np.argmax(orphan))
        raise _fail(path, int(rows[at]), column, text.iloc[at], "redeemed-needs-issued",
                    "is a redemption by a member who was not issued a coupon"
                    + (" (without --coupon issued=COLUMN only treated members count as issued one)" if inferred else ""))
    value = pd.Series(np.nan, index=raw.index)
    if "value" in columns:
        given = raw[columns["value"]].str.strip()
        number = pd.to_numeric(given, errors="coerce")
        fine = np.isfinite(number) & (number >= 0)
        bad = (redeemed.eq(1) & ~fine).to_numpy() | (given.ne("") & ~fine).to_numpy()
        if bad.any():
            at = int(np.argmax(bad))
            raise _fail(path, int(rows[at]), columns["value"], given.iloc[at], "type:number>=0",
                        "is not a value >= 0 (each redeemed coupon needs what it gave)")
        value = number.where(redeemed.eq(1))
    return pd.DataFrame({"coupon_issued": issued, "coupon_redeemed": redeemed,
                         "coupon_redeemed_at": when.where(redeemed.eq(1)), "coupon_value": value.astype(float)})


def _yes_no(path: Path, values: pd.Series, column: str, rows: np.ndarray, expected: str) -> pd.Series:
    """0/1 from a yes/no column (:data:`YES`, :data:`NO`), or the error naming the first other value."""
    lower = values.str.lower()
    bad = (~lower.isin(YES + NO)).to_numpy()
    if bad.any():
        at = int(np.argmax(bad))
        raise _fail(path, int(rows[at]), column, values.iloc[at], "type:yes/no", f"is not {expected}")
    return lower.isin(YES).astype("int64")


def _timestamps(text: pd.Series) -> pd.Series:
    """Times from text (NaT where empty or not a time); those with a zone ("Z", "+01:00") in UTC,
    without it as written, so files that mix the two read alike."""
    parsed = pd.to_datetime(text.where(text.ne("")), errors="coerce", format="mixed", utc=True)
    return parsed.dt.tz_convert(None).astype("datetime64[us]")


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """A Parquet file's columns as the text a CSV would hold: empty for nulls, whole floats
    without ``.0`` (an integer column with nulls reads as float), times as ISO text, booleans as
    ``True``/``False``."""
    def column(values: pd.Series) -> pd.Series:
        if pd.api.types.is_datetime64_any_dtype(values):
            return values.map(lambda v: "" if pd.isna(v) else v.isoformat())
        if pd.api.types.is_float_dtype(values):
            return values.map(lambda v: "" if pd.isna(v) else (str(int(v)) if float(v).is_integer() else repr(float(v))))
        return values.map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
    return frame.apply(column).astype(object) if len(frame) else frame.astype(str)


def _customers(path: Path, raw: pd.DataFrame, spec: ImportSpec, rows: np.ndarray) -> pd.Series:
    if spec.customer is None or spec.customer not in raw.columns:
        # A file of anonymous members (Hillstrom's): each row is a member of its own.
        return pd.Series([f"{spec.campaign_id}-{r}" for r in rows])
    ids = raw[spec.customer].str.strip().str.replace(r"^(-?[0-9]+)\.0+$", r"\1", regex=True)
    _require(path, ids, spec.customer, rows)
    repeated = ids.duplicated(keep="first").to_numpy()
    if repeated.any():
        at = int(np.argmax(repeated))
        first = int(np.argmax((ids == ids.iloc[at]).to_numpy())) + 1
        raise _fail(path, int(rows[at]), spec.customer, ids.iloc[at], "unique",
                    f"is a member already (row {first}): a customer is in a campaign once")
    return ids


def _require(path: Path, values: pd.Series, column: str, rows: np.ndarray) -> None:
    empty = values.eq("").to_numpy()
    if empty.any():
        raise _fail(path, int(rows[np.argmax(empty)]), column, "", "required", "is required")


def _assigned(path: Path, raw: pd.DataFrame, spec: ImportSpec, rows: np.ndarray) -> pd.Series:
    if spec.assigned is None:
        return pd.Series([spec.assigned_at] * len(raw), dtype="datetime64[us]")
    text = raw[spec.assigned].str.strip()
    parsed = _timestamps(text)
    bad = parsed.isna().to_numpy()
    if bad.any():
        at = int(np.argmax(bad))
        raise _fail(path, int(rows[at]), spec.assigned, text.iloc[at], "type:timestamp", "is not a date and time")
    return parsed


def _outcome(path: Path, values: pd.Series, column: str, rule: str, rows: np.ndarray) -> pd.Series:
    text = values.str.strip()
    number = pd.to_numeric(text, errors="coerce")
    checks = {"binary": (number.isin([0, 1]), "is not 0 or 1"),
              "count": ((number >= 0) & (number == number.round()), "is not a whole number >= 0"),
              "number": (number.notna(), "is not a number")}
    ok, message = checks[rule]
    bad = (~ok).to_numpy()
    if bad.any():
        at = int(np.argmax(bad))
        raise _fail(path, int(rows[at]), column, text.iloc[at], f"type:{rule}", message)
    return number.astype("int64" if rule in ("binary", "count") else "float64")


def import_output(members: pd.DataFrame, spec: ImportSpec, source: str, default_margin: float) -> Output:
    """The campaign's record (``campaigns``, status ``done``), its ``campaign_members`` and, with
    outcomes, its ``campaign_outcomes``, each replacing what an earlier import of it wrote."""
    cid = spec.campaign_id
    variants = sorted(v for v in members["variant"].dropna().unique())
    first = members["assigned_at"].min()
    record = {"campaign_id": cid, "status": "done", "audience_kind": "import", "audience": source,
              "channel": spec.channel, "variants": json.dumps([{"name": v} for v in variants]), "schedule": "now",
              "send_at": None, "budget": None, "contact_cost": float(spec.contact_cost),
              "attribution_days": int(spec.days), "holdout_share": spec.holdout_share, "seed": 0,
              "settings": json.dumps({"imported": True, **({"margin_share": default_margin}
                                                           if "revenue" in spec.outcomes and "margin" not in spec.outcomes
                                                           else {})}), "created_at": dt.datetime.now().replace(microsecond=0),
              "launched_at": None if pd.isna(first) else pd.Timestamp(first).to_pydatetime(), "finished_at": None}
    member_rows = pd.DataFrame({"campaign_id": cid, "customer_id": members["customer_id"],
                                "treatment_group": members["treatment_group"], "variant": members["variant"],
                                "channel": spec.channel, "assigned_at": members["assigned_at"],
                                "load_id": pd.array([None] * len(members), dtype="Int64"),
                                "segment": members["segment"]})
    writes = [Write("campaigns", pa.Table.from_pylist([record]), mode="upsert", key=("campaign_id",)),
              Write("campaign_members", member_rows, where={"campaign_id": cid}),
              Write("campaign_outcomes", None, where={"campaign_id": cid})]
    if spec.outcomes:
        writes[-1] = Write("campaign_outcomes", outcome_rows(members, spec, default_margin),
                           where={"campaign_id": cid})
    writes.append(Write("campaign_coupons", coupon_rows(members, cid) if spec.coupons else None,
                        where={"campaign_id": cid}))
    return Output(writes)


def coupon_rows(members: pd.DataFrame, campaign_id: str) -> pd.DataFrame:
    """``campaign_coupons`` rows from the imported coupon columns (:func:`_coupons`)."""
    return pd.DataFrame({"campaign_id": campaign_id, "customer_id": members["customer_id"],
                         "treatment_group": members["treatment_group"], "variant": members["variant"],
                         "issued": members["coupon_issued"], "redeemed": members["coupon_redeemed"],
                         "redeemed_at": members["coupon_redeemed_at"], "value": members["coupon_value"]})


def outcome_rows(members: pd.DataFrame, spec: ImportSpec, default_margin: float) -> pd.DataFrame:
    """``campaign_outcomes`` rows from the imported outcomes: what the file lacks is NULL (and not
    measured), except what follows from what it has (converted from purchases, margin from revenue)."""
    n = len(members)
    given = {metric: members[metric] for metric in spec.outcomes}
    if "converted" not in given and "purchases" in given:
        given["converted"] = (given["purchases"] > 0).astype("int64")
    if "margin" not in given and "revenue" in given:
        given["margin"] = given["revenue"] * default_margin
    treated = members["treatment_group"].eq("treatment").to_numpy()
    cost = np.where(treated, float(spec.contact_cost), 0.0)
    frame = pd.DataFrame({c.name: pd.Series([None] * n, dtype=object) for c in CAMPAIGN_OUTCOMES.columns})
    frame["campaign_id"], frame["customer_id"] = spec.campaign_id, members["customer_id"].to_numpy()
    for name in ("treatment_group", "variant", "segment", "assigned_at"):
        frame[name] = members[name].to_numpy()
    frame["window_days"], frame["contact_cost"], frame["source"] = spec.days, cost, "imported"
    # What the coupons gave, where the file says: the campaign's discount cost (its ROI's denominator).
    frame["discount"] = members["coupon_value"].fillna(0.0).to_numpy() if "coupon_value" in members else 0.0
    for metric, values in given.items():
        frame[metric] = values.to_numpy()
    if "margin" in given:
        frame["profit"] = given["margin"].to_numpy() - cost
    return _typed(frame)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in the table's types (all-NULL columns included), so the write matches the schema."""
    kinds = {"BIGINT": "Int64", "DOUBLE": "Float64", "VARCHAR": "string", "TIMESTAMP": "datetime64[us]"}
    return frame.astype({c.name: kinds[c.dtype] for c in CAMPAIGN_OUTCOMES.columns})


__all__ = ["COUPONS", "ImportSpec", "OUTCOMES", "read_campaign", "import_output", "outcome_rows", "coupon_rows"]
