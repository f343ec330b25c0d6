"""The stage runner: one function per stage that reads, computes, and saves as one unit.

Each ``run_*`` function asks a stage for its result (stages read the workspace's tables and
compute; they write nothing), turns the result into the stage's :class:`~micromarket.storage.base.Output`
and hands that to the workspace's storage, which writes the output tables and the run record
together or not at all. The CLI and the demo call these functions; nothing else sequences
stages or saves tables.

>>> import tempfile, pathlib
>>> from micromarket import Workspace
>>> from micromarket.demo import run_demo
>>> root = pathlib.Path(tempfile.mkdtemp()) / "shop"
>>> info = run_demo(root, customers=600)
>>> with Workspace.open(root) as ws:
...     frame = run_micro_markets(ws, "area")
...     ws.storage.latest_run("local_runs")["summary"].startswith('{"command": "markets"')
True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    import datetime as dt

    import pandas as pd
    import pyarrow as pa

    from .campaigns.campaign import Campaign
    from .campaigns.send import SendReport
    from .local.assortment import Assortment
    from .local.stores import StoreClusters
    from .measure.importing import ImportSpec
    from .measure.results import Measurement
    from .offers.plan import OfferPlan
    from .offers.propensity import Propensity
    from .offers.recommendations import Recommendations
    from .offers.scores import OfferScores
    from .privacy import Erasure
    from .profile.build import ProfileResult
    from .segments.geo import AreaTypes
    from .segments.segmentation import SegmentationResult
    from .workspace import Workspace

Progress = Callable[[str], None]


def _noop(_step: str) -> None:
    pass


# -- differentiate ------------------------------------------------------------------------
def run_profile(ws: "Workspace", progress: Progress | None = None, **settings: Any) -> "ProfileResult":
    """Profile every customer (:func:`micromarket.profile.build_profile`), store the profile and
    its run record, and recompute the rule segments from it, as one unit.

    ``settings``: ``observation_end`` and any ``[profile]`` setting.
    """
    from .profile.build import build_profile
    from .segments.store import rule_outputs

    step = progress or _noop
    with build_profile(ws, progress=step, **settings) as (result, output):
        step("writing")
        ws.storage.apply(output)
    # Rule segments read the profile: their members follow the new numbers. A unit of their own,
    # once the profile is stored: in the profile's unit, DuckDB would hold the uncommitted profile
    # in memory while the rules read it (a third of a GiB more at a million customers).
    with ws.storage.atomic():
        for rule_output in rule_outputs(ws):
            ws.storage.apply(rule_output)
    return result


# -- group ------------------------------------------------------------------------------
def run_rule_segment(ws: "Workspace", name: str, rule: str, *, replace: bool = False) -> dict:
    """Save the rule segment ``name`` and its members (see :func:`micromarket.segments.store.rule_output`);
    returns its row of :func:`micromarket.segments.store.list_segments`."""
    from .segments.store import describe, rule_output

    ws.storage.apply(rule_output(ws, name, rule, replace=replace))
    return describe(ws, name)


def run_rule_segments(ws: "Workspace") -> int:
    """Recompute every rule segment's members from the current data, as one unit; returns how many."""
    from .segments.store import rule_outputs

    count = 0
    with ws.storage.atomic():
        for output in rule_outputs(ws):
            ws.storage.apply(output)
            count += 1
    return count


def run_delete_segment(ws: "Workspace", name: str) -> None:
    """Delete a segment and its members (refused while a rule segment uses it)."""
    from .segments.store import delete_output

    ws.storage.apply(delete_output(ws, name))


def run_clusters(ws: "Workspace", name: str = "clusters", progress: Progress | None = None,
                 **options: Any) -> "SegmentationResult":
    """Cluster the customers into segments, niches and micro-segments with personas
    (:func:`micromarket.segments.segmentation.cluster_customers`) and store the segmentation."""
    from .segments.segmentation import cluster_customers, segmentation_output

    step = progress or _noop
    result = cluster_customers(ws, name, progress=step, **options)
    step("saving")
    ws.storage.apply(segmentation_output(ws, result))
    return result


def run_assign(ws: "Workspace", name: str = "clusters") -> int:
    """Put the customers a segmentation has not seen into its nearest segments; returns how many."""
    from .segments.segmentation import assignment_output

    output, assigned = assignment_output(ws, name)
    ws.storage.apply(output)
    return assigned


def run_area_types(ws: "Workspace", name: str = "area types", **options: Any) -> "AreaTypes":
    """Cluster the areas into geodemographic types (:func:`micromarket.segments.geo.area_types`)
    and store them with the customers who live there."""
    from .segments.geo import area_type_profile, area_types, area_types_output

    result = area_types(ws, name, **options)
    ws.storage.apply(area_types_output(ws, result))
    result.types = area_type_profile(ws)
    return result


# -- localise ---------------------------------------------------------------------------
def run_micro_markets(ws: "Workspace", level: str = "area", **options: Any) -> "pd.DataFrame":
    """Build and store the micro-markets of one level (:func:`micromarket.local.micro_markets`)."""
    from .local import micro_markets, micro_markets_output

    frame = micro_markets(ws, level, **options)
    ws.storage.apply(micro_markets_output(frame))
    return frame


def run_market_trends(ws: "Workspace", level: str = "area", **options: Any) -> "pd.DataFrame":
    """Build and store one level's micro-markets month by month (:func:`micromarket.local.market_trends`)."""
    from .local import market_trends, trends_output

    frame = market_trends(ws, level, **options)
    ws.storage.apply(trends_output(frame))
    return frame


def run_store_clusters(ws: "Workspace", **options: Any) -> "StoreClusters":
    """Cluster the stores and store them (:func:`micromarket.local.store_clusters`)."""
    from .local import store_clusters, store_clusters_output

    result = store_clusters(ws, **options)
    ws.storage.apply(store_clusters_output(result))
    return result


def run_assortment(ws: "Workspace", progress: Progress | None = None, **options: Any) -> "Assortment":
    """Test, range and store the localised assortment (:func:`micromarket.local.localised_assortment`),
    with the store clusters it made when none were stored."""
    from .local import assortment_output, localised_assortment, store_clusters_output

    step = progress or _noop
    result = localised_assortment(ws, on_step=step, **options)
    step("writing")
    with ws.storage.atomic():
        if result.store_clusters is not None:
            ws.storage.apply(store_clusters_output(result.store_clusters))
        ws.storage.apply(assortment_output(result))
    return result


# -- decide -----------------------------------------------------------------------------
def run_offer_scores(ws: "Workspace", **options: Any) -> "OfferScores":
    """Learn each offer's uplift from a past campaign and store every customer's scores
    (:func:`micromarket.offers.scores.score_offers`)."""
    from .offers.scores import score_offers, scores_output

    result = score_offers(ws, **options)
    ws.storage.apply(scores_output(result))
    return result


def run_offer_plan(ws: "Workspace", scores: "OfferScores", progress: Progress | None = None,
                   **options: Any) -> "OfferPlan":
    """Choose who gets which offer (:func:`micromarket.offers.plan.plan_offers`) and store the
    scores it was chosen from, the plan and the run record as one unit."""
    from .offers.plan import plan_offers, plan_output
    from .offers.scores import scores_output

    step = progress or _noop
    step("planning")
    result = plan_offers(ws, scores, **options)
    step("writing")
    with ws.storage.atomic():
        ws.storage.apply(scores_output(scores))
        ws.storage.apply(plan_output(scores, result))
    return result


def run_recommendations(ws: "Workspace", progress: Progress | None = None, **options: Any) -> "Recommendations":
    """Check the recommenders, fit the chosen one and store every customer's list
    (:func:`micromarket.offers.recommendations.recommend`)."""
    from .offers.recommendations import recommend, recommendations_output

    step = progress or _noop
    result = recommend(ws, progress=step, **options)
    step("writing")
    ws.storage.apply(recommendations_output(result))
    return result


def run_propensity(ws: "Workspace", progress: Progress | None = None, **options: Any) -> "Propensity":
    """Learn and store each customer's probability of buying the target
    (:func:`micromarket.offers.propensity.propensity`)."""
    from .offers.propensity import propensity, propensity_output

    step = progress or _noop
    step("learning")
    result = propensity(ws, **options)
    step("writing")
    ws.storage.apply(propensity_output(result))
    return result


# -- report -----------------------------------------------------------------------------
def run_report(ws: "Workspace", path: str | Path | None = None) -> Path:
    """Write the self-contained HTML report of what the workspace holds; returns its path."""
    from .reports import write_report

    return write_report(ws, path)


__all__ = ["run_profile", "run_rule_segment", "run_rule_segments", "run_delete_segment", "run_clusters", "run_assign",
           "run_area_types", "run_micro_markets", "run_store_clusters", "run_assortment", "run_offer_scores",
           "run_offer_plan", "run_recommendations", "run_propensity", "run_report"]


# -- interact -----------------------------------------------------------------------------
def run_create_campaign(ws: "Workspace", name: str, *, customer_list: "pa.Table | None" = None,
                        **definition: Any) -> "Campaign":
    """Store a draft campaign (:func:`micromarket.campaigns.campaign.new_campaign` for the definition)
    with its holdout plan (:func:`micromarket.measure.holdout_plan.plan_holdout`, in its settings;
    ``holdout="auto"`` takes the plan's share); the workspace's global control group starts with its
    first campaign, so the dry run sees it."""
    from .campaigns.audience import audience
    from .campaigns.campaign import create_output, new_campaign, status_output
    from .measure.holdout_plan import plan_holdout

    auto = definition.get("holdout") == "auto"
    campaign = new_campaign(ws, name, **{**definition, "holdout": None if auto else definition.get("holdout")})
    run_control_group(ws)
    with ws.storage.atomic():
        ws.storage.apply(create_output(campaign, customer_list))
        if campaign.transactional:
            return campaign
        # After the list is stored: a list audience is read from campaign_lists like any other.
        people = audience(ws, campaign.audience_kind,
                          name if campaign.audience_kind == "list" else campaign.audience)
        plan = plan_holdout(ws, people, days=campaign.attribution_days,
                            holdout_share=None if auto else campaign.holdout_share,
                            target_lift=float(ws.config["campaigns"]["target_lift"]),
                            fallback_share=campaign.holdout_share)
        campaign.holdout_share = plan.holdout_share
        campaign.settings["plan"] = plan.to_dict()
        ws.storage.apply(status_output(campaign, "draft"))
    return campaign


def run_control_group(ws: "Workspace", share: float | None = None, reshuffle: bool = False,
                      salt: str | None = None) -> dict:
    """Start the global control group (or a new generation of it on ``reshuffle`` or a new
    share) and return the current generation; ``salt`` fixes a new generation's draw."""
    from .campaigns.audience import control_generation, control_output

    output = control_output(ws, ws.config["campaigns"]["control_share"] if share is None else share, reshuffle, salt)
    if output is not None:
        ws.storage.apply(output)
    return control_generation(ws)


def run_launch_campaign(ws: "Workspace", name: str, progress: "Callable[[int, int], None] | None" = None,
                        send: bool = True, at: "dt.datetime | None" = None) -> "SendReport | Campaign":
    """Launch a draft (members, holdout and ledger as one unit; the global control group started
    where it is not yet) and, unless it is scheduled for later or ``send`` is false, send it.
    ``at``: the time the members are assigned at (default now)."""
    from .campaigns.campaign import get_campaign, launch_output
    from .campaigns.send import sender_domain

    run_control_group(ws)
    campaign = get_campaign(ws, name)
    ws.storage.apply(launch_output(ws, campaign, sender_domain(ws, campaign), at))
    campaign = get_campaign(ws, name)
    if not send or campaign.status == "scheduled":
        return campaign
    return run_send_campaign(ws, name, progress)


def run_send_campaign(ws: "Workspace", name: str, progress: "Callable[[int, int], None] | None" = None,
                      resend_in_doubt: bool = False) -> "SendReport":
    """Send (or resume sending) a launched campaign's queued messages through the ledger
    (:mod:`micromarket.campaigns.send`)."""
    from .campaigns.campaign import get_campaign, status_output
    from .campaigns.send import campaign_renderer, pause_flag, prepare_run, run_loop

    from .campaigns.send import SendReport

    campaign = get_campaign(ws, name)
    if campaign.status == "done":  # resuming a finished campaign sends nothing (and is no error)
        return SendReport(campaign.campaign_id, "done")
    _check_sendable(campaign)
    pause_flag(ws, campaign).unlink(missing_ok=True)  # resuming is the user's answer to a pause
    if campaign.status != "sending":
        ws.storage.apply(status_output(campaign, "sending"))
    run = prepare_run(ws, campaign, campaign_renderer(ws, campaign))
    return run_loop(run, progress, resend_in_doubt)


def _check_sendable(campaign: "Campaign") -> None:
    import datetime as dt

    from .exceptions import SchemaError

    if campaign.status == "draft":
        raise SchemaError(f"campaign {campaign.campaign_id!r} is a draft: launch it first (`campaign launch`)")
    if campaign.status == "scheduled" and campaign.send_at and campaign.send_at > dt.datetime.now():
        raise SchemaError(f"campaign {campaign.campaign_id!r} is scheduled for {campaign.send_at}: it sends then "
                          "(`campaign resume` at or after that time)")


def run_suppress(ws: "Workspace", path: str | Path, region: str | None = None) -> tuple[int, int]:
    """Add a suppression file's addresses and customers to ``suppressions``: a CSV of customer ids,
    e-mails or phones, or (``.json``, ``.jsonl``) providers' bounce, complaint and unsubscribe
    payloads (:mod:`micromarket.campaigns.feedback`). Returns (rows added, provider events ignored as
    not permanent)."""
    from .campaigns.feedback import feedback_entries, read_payloads
    from .campaigns.suppression import read_suppression_file, suppression_rows, suppressions_output

    path = Path(path)
    if path.suffix in (".json", ".jsonl"):
        entries, ignored = feedback_entries(read_payloads(path))
        rows = suppression_rows([("email", address, "all", reason) for reason, address in entries], str(path))
    else:
        rows, ignored = read_suppression_file(path, region), 0
    if rows.num_rows:
        ws.storage.apply(suppressions_output(rows))
    return rows.num_rows, ignored


def run_pause_campaign(ws: "Workspace", name: str) -> "Campaign":
    """Mark a campaign paused (a sender running in another process sees the pause flag, see
    :func:`micromarket.campaigns.send.request_pause`, and stops before its next message)."""
    from .campaigns.campaign import get_campaign, status_output
    from .exceptions import SchemaError

    campaign = get_campaign(ws, name)
    if campaign.status not in ("sending", "scheduled", "paused"):
        raise SchemaError(f"campaign {name!r} is {campaign.status}: only a launched campaign that is not done can pause")
    ws.storage.apply(status_output(campaign, "paused"))
    return get_campaign(ws, name)


# -- measure ----------------------------------------------------------------------------
def run_measure(ws: "Workspace", campaign_id: str, *, days: int | None = None, alpha: float = 0.05,
                cuped: bool = True, holdout_share: float | None = None,
                progress: Progress | None = None) -> "Measurement":
    """Attribute a campaign's members' purchases (unless its outcomes were loaded with it) and
    measure it (:func:`micromarket.measure.measuring.measure_campaign`): ``campaign_outcomes``,
    ``campaign_results`` and the ``measure_runs`` record, as one unit."""
    from .measure.measuring import attribution_output, imported, measure_campaign, results_output

    step = progress or _noop
    with ws.storage.atomic():
        if not imported(ws, campaign_id):
            step("attributing")
            ws.storage.apply(attribution_output(ws, campaign_id, days))
        step("measuring")
        measurement = measure_campaign(ws, campaign_id, alpha=alpha, cuped=cuped, holdout_share=holdout_share)
        step("writing")
        ws.storage.apply(results_output(measurement))
    return measurement


def run_import_campaign(ws: "Workspace", path: str | Path, spec: "ImportSpec") -> int:
    """Import a past campaign's members (and outcomes) from a file
    (:func:`micromarket.measure.importing.read_campaign`) as one unit; returns the members imported.
    A campaign run here cannot be overwritten by an import."""
    from .exceptions import SchemaError
    from .measure.importing import import_output, read_campaign
    from .measure.measuring import campaign_record

    record = campaign_record(ws, spec.campaign_id)
    if record and record["audience_kind"] != "import":
        raise SchemaError(f"campaign {spec.campaign_id!r} was run here; import the file under another name")
    members = read_campaign(path, spec)
    ws.storage.apply(import_output(members, spec, str(path), float(ws.config["profile"]["margin"])))
    return len(members)


# -- privacy ------------------------------------------------------------------------------------
def run_erase(ws: "Workspace", customer_id: str) -> "Erasure":
    """Erase a customer everywhere (:func:`micromarket.privacy.plan_erasure`): the deletes, the rows
    kept under a random pseudonym and the audit row as one unit (on Spark the loading database's
    copies of the loaded tables too, committed last inside the warehouse's unit), then the
    customer's mail-folder messages and interrupted send journals (:func:`micromarket.privacy.erase_files`)."""
    from .privacy import erase_files, plan_erasure

    erasure = plan_erasure(ws, customer_id)
    with ws.storage.atomic():
        ws.storage.apply(erasure.output)
        if erasure.loading is not None:
            ws.loading.apply(erasure.loading)
    return erase_files(erasure)


def run_export_customer(ws: "Workspace", customer_id: str, path: str | Path) -> dict:
    """Write every row about a customer to one JSON file (:func:`micromarket.privacy.customer_export`)
    and return it."""
    from .privacy import customer_export, write_export

    export = customer_export(ws, customer_id)
    write_export(export, path)
    return export
