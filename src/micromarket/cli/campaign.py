"""``micromarket campaign``: create, preview, dry-run, launch, resume, pause, status, list."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable

from ..exceptions import SchemaError, WorkspaceBusyError, WorkspaceError
from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, print_json
from .progress import counter, note, results, warn

app = typer.Typer(help="Campaigns: an audience, a message, a channel and a holdout; sent exactly once.",
                  no_args_is_help=True)


@app.command("create")
def create(name: str = typer.Argument(..., help="Campaign name (letters, digits, '.', '_', '-')."),
           segment: Optional[str] = typer.Option(None, help="Audience: the members of this segment."),
           rule: Optional[str] = typer.Option(None, help="Audience: the customers for whom this rule holds."),
           plan: bool = typer.Option(False, "--plan", help="Audience: the offer plan (`offers plan`), with each "
                                                           "customer's offer and best hour."),
           customers: Optional[Path] = typer.Option(None, "--list", help="Audience: a CSV file with a customer_id column."),
           template: Optional[Path] = typer.Option(None, help="Message template file (see docs/how-to/templates.md)."),
           variant: Optional[list[str]] = typer.Option(None, help="A message variant NAME=TEMPLATE_FILE (repeatable; "
                                                                  "instead of --template)."),
           variant_discount: Optional[list[str]] = typer.Option(
               None, help="A variant's own coupon NAME=DEPTH (0.2: 20 % off; repeatable), in place of the offer "
                          "plan's depth for its members: a test of depths that `offers` learns from."),
           channel: str = typer.Option("email", help="Channel: email, mail_folder, sms, push, webhook, direct_mail, "
                                                     "export or an ad-platform audience."),
           holdout: Optional[str] = typer.Option(None, help="Share held out in every stratum (default [campaigns] "
                                                            "holdout), or 'auto': the smallest share that detects "
                                                            "[campaigns] target_lift, from the audience's baseline."),
           schedule: str = typer.Option("now", help="now, at (with --at) or best_hour (each customer's hour)."),
           at: Optional[dt.datetime] = typer.Option(None, help="When a schedule-at campaign sends."),
           budget: Optional[float] = typer.Option(None, min=0.0, help="Most to spend on messages (default: no limit)."),
           contact_cost: Optional[float] = typer.Option(None, min=0.0, help="Cost of one message (default [offers] contact_cost)."),
           attribution_days: Optional[int] = typer.Option(None, min=1, help="Days purchases count for the campaign."),
           seed: int = typer.Option(0, help="Seed of the holdout draw."),
           transactional: bool = typer.Option(False, help="Owed to every customer (no holdout, no caps, not the "
                                                          "global control): receipts, service notices."),
           waves: int = typer.Option(1, min=1, help="Send in this many waves; with several variants, later waves "
                                                    "go more to the variants that did best (Thompson sampling)."),
           bandit_floor: float = typer.Option(0.05, min=0.0, help="Share of each wave every variant keeps."),
           response_days: int = typer.Option(7, min=1, help="Days after a message in which a purchase counts as a "
                                                            "response, for the waves."),
           workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Create a draft campaign (nothing is sent until `campaign launch`)."""
    from ..runner import run_create_campaign

    kind, value, listed = _audience(segment, rule, plan, customers)
    variants = _with_discounts(_variants(variant, template), variant_discount)
    holdout = _holdout(holdout)
    with Workspace.open(workspace) as ws:
        campaign = run_create_campaign(ws, name, audience_kind=kind, audience_value=value, template=None,
                                       channel=channel, holdout=holdout, variants=variants, schedule=schedule,
                                       send_at=at, budget=budget, contact_cost=contact_cost,
                                       attribution_days=attribution_days, seed=seed, transactional=transactional,
                                       waves=waves, bandit_floor=bandit_floor, response_days=response_days,
                                       customer_list=listed)
    if as_json:
        print_json(campaign.row())
        return
    results.print(f"Created campaign {name} (draft): {kind} {value or ''}, {channel}, holdout "
                  f"{campaign.holdout_share:.1%}, {len(campaign.variants)} variant(s)")
    _show_plan(campaign)


def _holdout(text: str | None) -> float | str | None:
    """``--holdout``: a share in [0, 0.99], ``auto``, or nothing (the configured default)."""
    if text is None or text == "auto":
        return text
    try:
        share = float(text)
    except ValueError:
        raise typer.BadParameter(f"--holdout {text!r}: a share such as 0.1, or 'auto'") from None
    if not 0 <= share <= 0.99:
        raise typer.BadParameter(f"--holdout {text!r}: a share between 0 and 0.99")
    return share


def _show_plan(campaign) -> None:
    """The holdout plan: what the campaign can detect, and a warning where it cannot detect the target."""
    from ..measure.holdout_plan import HoldoutPlan

    plan = campaign.settings.get("plan")
    if not plan:
        return
    shown = HoldoutPlan(**{k: v for k, v in plan.items() if k != "mde_relative"})
    (warn if shown.note else note)("Holdout plan: " + shown.summary())


def _audience(segment, rule, plan, customers) -> tuple[str, str, object]:
    given = [(k, v) for k, v in (("segment", segment), ("rule", rule), ("plan", "offer_plan" if plan else None),
                                 ("list", customers)) if v]
    if len(given) != 1:
        raise typer.BadParameter("give exactly one audience: --segment, --rule, --plan or --list")
    kind, value = given[0]
    if kind != "list":
        return kind, str(value), None
    return kind, str(value), _read_list(Path(value))


def _read_list(path: Path):
    import pyarrow.csv as pacsv

    if not path.exists():
        raise SchemaError(f"{path}: no such file")
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"customer_id": "string"}))
    if "customer_id" not in table.column_names:
        raise SchemaError(f"{path}: expected a customer_id column; the file has {', '.join(table.column_names)}")
    return table.select(["customer_id"]).drop_null()


def _variants(variant: list[str] | None, template: Path | None) -> list[dict] | None:
    if variant and template:
        raise typer.BadParameter("give --template or --variant NAME=FILE, not both")
    if template:
        return [{"name": "A", "template": str(template.resolve())}]
    out = []
    for item in variant or []:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"--variant {item!r}: expected NAME=TEMPLATE_FILE")
        out.append({"name": name, "template": str(Path(path).resolve())})
    return out or None


def _with_discounts(variants: list[dict] | None, discounts: list[str] | None) -> list[dict] | None:
    """``variants`` with the coupon depths of ``--variant-discount NAME=DEPTH``."""
    if not discounts:
        return variants
    by_name = {v["name"]: v for v in variants or []}
    for item in discounts:
        name, sep, depth = item.partition("=")
        if not sep or name not in by_name:
            raise typer.BadParameter(f"--variant-discount {item!r}: expected NAME=DEPTH for a variant given with "
                                     f"--variant ({', '.join(by_name) or 'none given'})")
        try:
            by_name[name]["discount_depth"] = float(depth)
        except ValueError:
            raise typer.BadParameter(f"--variant-discount {item!r}: {depth!r} is not a number (0.2: 20 % off)") from None
    return variants


@app.command("preview")
def preview(name: str = typer.Argument(..., help="Campaign name."),
            customer_id: str = typer.Argument(..., help="The customer to render the message for."),
            workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Render the campaign's message for one customer (nothing is sent)."""
    from ..campaigns.campaign import get_campaign
    from ..campaigns.send import preview_message

    with Workspace.open(workspace) as ws:
        parts = preview_message(ws, get_campaign(ws, name), customer_id)
    if as_json:
        print_json(parts)
        return
    for part in ("subject", "text", "html"):
        if parts.get(part) is not None:
            results.print(f"--- {part} ---\n{parts[part]}")


@app.command("dry-run")
def dry_run(name: str = typer.Argument(..., help="Campaign name."),
            output: Optional[Path] = typer.Option(None, help="Write who gets what and why each is excluded, as CSV."),
            workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Who would get which message, and why each excluded customer is excluded (nothing is written)."""
    from ..campaigns.campaign import get_campaign
    from ..campaigns.dry_run import dry_run as run

    with Workspace.open(workspace) as ws:
        campaign = get_campaign(ws, name)
        frame = run(ws, campaign)
    if output:
        frame.to_csv(output, index=False)
    summary = frame["decision"].value_counts().to_dict()
    if as_json:
        print_json({"campaign": name, "customers": len(frame), "decisions": summary,
                    "plan": campaign.settings.get("plan")})
        return
    table = RichTable(title=f"Dry run of {name}: {len(frame):,} customers in the audience")
    table.add_column("decision")
    table.add_column("customers", justify="right")
    for decision, n in sorted(summary.items(), key=lambda kv: -kv[1]):
        table.add_row(decision, f"{n:,}")
    results.print(table)
    _show_plan(campaign)
    if output:
        note(f"each customer's decision is in {output}")


@app.command("launch")
def launch(name: str = typer.Argument(..., help="Campaign name."), workspace: Path = WorkspaceOpt,
           as_json: bool = JsonOpt) -> None:
    """Draw the holdout, write the members and the send ledger, then send (unless scheduled for later)."""
    from ..runner import run_launch_campaign

    with Workspace.open(workspace) as ws, counter(f"sending {name}", 0) as update:
        outcome = run_launch_campaign(ws, name, progress=update)
    _report(outcome, as_json)


@app.command("resume")
def resume(name: str = typer.Argument(..., help="Campaign name."),
           resend_in_doubt: bool = typer.Option(False, help="Send again the messages in doubt after a crash (the "
                                                           "server may have them: a customer may get two)."),
           workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Send the messages still queued (after a pause, a crash, quiet hours or a scheduled time)."""
    from ..runner import run_send_campaign

    with Workspace.open(workspace) as ws, counter(f"sending {name}", 0) as update:
        outcome = run_send_campaign(ws, name, progress=update, resend_in_doubt=resend_in_doubt)
    _report(outcome, as_json)


def _report(outcome, as_json: bool) -> None:
    from ..campaigns.campaign import Campaign

    if isinstance(outcome, Campaign):
        data = {"campaign": outcome.campaign_id, "status": outcome.status, "send_at": outcome.send_at}
        print_json(data) if as_json else results.print(f"Campaign {outcome.campaign_id} is {outcome.status} "
                                                       f"(sends at {outcome.send_at})")
        return
    if as_json:
        print_json(outcome.__dict__)
        return
    results.print(f"Campaign {outcome.campaign}: {outcome.status}; " +
                  ", ".join(f"{k} {v:,}" for k, v in sorted(outcome.counts.items())))
    if outcome.deferred:
        note(f"{outcome.deferred:,} message(s) wait for quiet hours or their best hour to pass: resume later")
    if outcome.waiting:
        note(f"{outcome.waiting}: `campaign resume` then")
    if outcome.paused_because:
        warn(f"paused: {outcome.paused_because}; `campaign resume` to go on")


@app.command("pause")
def pause(name: str = typer.Argument(..., help="Campaign name."), workspace: Path = WorkspaceOpt) -> None:
    """Pause a campaign: a running sender stops before its next message."""
    from ..campaigns.send import request_pause

    from ..runner import run_pause_campaign

    flag = request_pause(workspace, name)
    try:
        with Workspace.open(workspace) as ws:
            run_pause_campaign(ws, name)
    except WorkspaceBusyError:
        # The sender holds the workspace: it reads the flag before its next message and pauses.
        results.print(f"Campaign {name}: pause requested; the process sending it stops before its next message")
        return
    except (SchemaError, WorkspaceError):
        flag.unlink(missing_ok=True)
        raise
    results.print(f"Campaign {name}: paused")


@app.command("status")
def status(name: str = typer.Argument(..., help="Campaign name."), workspace: Path = WorkspaceOpt,
           as_json: bool = JsonOpt) -> None:
    """Counts by state: sent, skipped by reason, failed, bounced, in doubt, queued, holdout."""
    from ..campaigns.campaign import counts, get_campaign

    with Workspace.open(workspace) as ws:
        data = counts(ws, get_campaign(ws, name))
    if as_json:
        print_json(data)
        return
    table = RichTable(title=f"Campaign {name}: {data['status']} ({data['channel']})")
    table.add_column("state")
    table.add_column("customers", justify="right")
    for state in ("sent", "queued", "failed", "bounced", "in_doubt", "holdout"):
        table.add_row(state, f"{data[state]:,}")
    for reason, n in sorted(data["skipped"].items()):
        table.add_row(f"skipped: {reason}", f"{n:,}")
    results.print(table)


@app.command("list")
def list_(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Every campaign with its status."""
    from ..campaigns.campaign import list_campaigns

    with Workspace.open(workspace) as ws:
        rows = list_campaigns(ws)
    if as_json:
        print_json(rows)
        return
    table = RichTable(title="Campaigns")
    for column in ("campaign", "status", "channel", "audience", "created", "launched"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["campaign_id"], r["status"], r["channel"], f"{r['audience_kind']} {r['audience']}",
                      str(r["created_at"] or ""), str(r["launched_at"] or ""))
    results.print(table)


def _columns(option: str, what: str, items: list[str] | None, allowed) -> dict[str, str]:
    """``{name: column}`` from ``option NAME=COLUMN`` items, each name one of ``allowed``."""
    out = {}
    for item in items or []:
        name, _, column = item.partition("=")
        if name not in allowed or not column:
            raise typer.BadParameter(f"{option} {item!r}: expected {what}=COLUMN with {what} one of {', '.join(allowed)}")
        out[name] = column
    return out


@app.command("import")
def import_(path: Path = typer.Argument(..., help="CSV or Parquet file: one row per member."),
            name: str = typer.Option(..., "--name", help="The campaign's name here."),
            group: str = typer.Option("treatment_group", help="Column of each member's group."),
            control: list[str] = typer.Option(["control"], help="Value(s) of --group meaning the control group "
                                                                "(repeatable); every other value is a treatment "
                                                                "variant."),
            customer: Optional[str] = typer.Option("customer_id", help="Column of customer ids ('' for a file of "
                                                                       "anonymous members, each row its own)."),
            assigned: Optional[str] = typer.Option(None, help="Column of assignment times."),
            assigned_at: Optional[dt.datetime] = typer.Option(None, help="One assignment time for every member."),
            segment: Optional[str] = typer.Option(None, help="Column of each member's segment (results per segment)."),
            outcome: Optional[list[str]] = typer.Option(None, help="METRIC=COLUMN (repeatable): outcomes given with "
                                                                   "the members; METRIC is converted, visited, "
                                                                   "purchases, revenue or margin."),
            coupon: Optional[list[str]] = typer.Option(None, help="FIELD=COLUMN (repeatable): coupons given with the "
                                                                  "members; FIELD is issued (yes/no; without it every "
                                                                  "treated member was issued one), redeemed (yes/no or "
                                                                  "when) or value (what a redeemed coupon gave)."),
            days: int = typer.Option(14, min=1, help="Days after assignment the outcomes (or purchases) count."),
            holdout_share: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="The design's control share "
                                                                                       "(for the sample-ratio check)."),
            contact_cost: float = typer.Option(0.0, min=0.0, help="What contacting one treated member cost."),
            channel: str = typer.Option("imported", help="The channel it went out on."),
            workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Import a past campaign run elsewhere (members, groups, and optionally outcomes) to measure it
    and learn from it."""
    from ..measure.importing import COUPONS, OUTCOMES, ImportSpec
    from ..runner import run_import_campaign

    outcomes = _columns("--outcome", "METRIC", outcome, OUTCOMES)
    coupons = _columns("--coupon", "FIELD", coupon, COUPONS)
    if assigned and assigned_at:
        raise typer.BadParameter("give --assigned (a column) or --assigned-at (one time), not both")
    spec = ImportSpec(name, group=group, control=tuple(control), customer=customer or None, assigned=assigned,
                      assigned_at=assigned_at, segment=segment, outcomes=outcomes, coupons=coupons, days=days,
                      holdout_share=holdout_share, contact_cost=contact_cost, channel=channel)
    with Workspace.open(workspace) as ws:
        count = run_import_campaign(ws, path, spec)
    if as_json:
        print_json({"campaign": name, "members": count, "outcomes": sorted(outcomes), "coupons": sorted(coupons)})
        return
    what = f" with outcomes {', '.join(sorted(outcomes))}" if outcomes else ""
    what += f"{' and' if outcomes else ' with'} coupons ({', '.join(sorted(coupons))})" if coupons else ""
    results.print(f"Imported campaign {name}: {count:,} members{what}. Measure it with `micromarket measure {name}`.")
