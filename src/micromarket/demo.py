"""The demo: generate a chain, load it into a fresh workspace, run every stage, write the report.

``micromarket demo DIR`` and ``make demo`` call :func:`run_demo`; each stage runs through
:mod:`micromarket.runner`, so the demo stores exactly what the commands would.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pandas as pd

from . import runner
from .config import CONFIG_FILE
from .exceptions import WorkspaceError
from .ingest.generate import generate
from .local.stores import MIN_STORES
from .offers.scores import score_offers
from .reports.sections.offers import ROUNDS_TRUTH, TARGETING_TRUTH
from .workspace import Workspace

if TYPE_CHECKING:
    from .measure.results import Measurement
    from .offers.plan import OfferPlan

#: Rule segments the demo saves, to show the language (docs/concepts/segments.md).
DEMO_RULES = {
    "valuable but fading": 'value_tier == "heavy" and p_alive < 0.6',
    "recent cheese buyers in well-off areas": 'bought(category="Cheese", within="90d") and area.median_income > 60000',
    "bargain hunters online": "price_sensitivity > 0.6 and preferred_channel in [\"web\", \"app\"]",
}

#: Generated files in load order: dimensions first, so facts find them.
DEMO_TABLES = ("areas", "stores", "products", "customers", "transactions", "campaign_members")
#: The demo's steps, in order, as ``run_demo`` reports them to ``on_step``.
STEPS = ["generating data", *(f"loading {t}" for t in DEMO_TABLES), "profiling customers", "segmenting",
         "local markets", "measuring the past campaign", "offers", "recommendations and propensity",
         "round 1: campaign", "round 1: measuring", "round 2: offers", "round 2: campaign", "round 2: measuring",
         "writing report"]


def run_demo(directory: str | Path, customers: int = 20_000, *, seed: int = 42, force: bool = False,
             backend: str = "duckdb", campaign: bool = True,
             on_generate: Callable[[int, int], None] | None = None,
             on_step: Callable[[str], None] | None = None) -> dict:
    """Create ``directory`` as a workspace holding a generated chain, and write its report.

    Parameters
    ----------
    directory : str or Path
        Workspace folder; the generated files go to ``directory/data`` and the truth
        to ``directory/data/truth``.
    customers : int
        Customers to simulate.
    seed : int
        Random seed.
    force : bool
        Replace an existing workspace at ``directory``.
    backend : {"duckdb", "spark"}
        The engine (Spark: local mode, tables in the workspace's warehouse folder).
    campaign : bool
        Run the demo's two rounds of campaigns, loading their simulated responses (see :func:`rounds_demo`).
    on_generate, on_step : callable, optional
        Progress callbacks: (customers done, total), and the name of each step.

    Returns
    -------
    dict
        ``generated`` (sizes), ``loads`` (table -> rows loaded), ``rounds`` (:func:`rounds_demo`;
        empty without ``campaign``), ``report`` (path).
    """
    root = Path(directory)
    if (root / CONFIG_FILE).exists():
        if not force:
            raise WorkspaceError(f"{root}: already a workspace; use --force to replace it")
        shutil.rmtree(root)
    data = root / "data"
    step = on_step or (lambda _s: None)
    step("generating data")
    info = generate(data, customers, seed=seed, progress=on_generate)
    ws = Workspace.create(root, name="demo chain", currency="GBP", backend=backend)
    # The demo shows personal discounts: none for the least price-sensitive third, up to 20 % off.
    ws.update_config({"offers": {"discount_depths": [0.0, 0.1, 0.2]},
                      # Its two rounds are two weeks apart in the data but seconds apart by the clock, which
                      # the daily and weekly contact caps count by: they would hold back round 2.
                      "campaigns": {"cap_day": 0, "cap_week": 0}})
    try:
        loads = {}
        for table in DEMO_TABLES:
            step(f"loading {table}")
            loads[table] = ws.ingest(data / f"{table}.parquet", table=table).rows_loaded
        step("profiling customers")
        runner.run_profile(ws)
        step("segmenting")
        segment_demo(ws)
        step("local markets")
        local_demo(ws)
        # The plan learns from the past campaign's measured outcomes (offers read campaign_outcomes).
        step("measuring the past campaign")
        runner.run_measure(ws, PAST_CAMPAIGN, holdout_share=PAST_HOLDOUT)
        step("offers")
        targeting_truth(ws, data, offers_demo(ws))
        step("recommendations and propensity")
        recommend_demo(ws)
        rounds = rounds_demo(ws, data, seed, step) if campaign else []
        step("writing report")
        report = runner.run_report(ws)
    finally:
        ws.close()
    return {"generated": info, "loads": loads, "rounds": rounds, "report": str(report)}


#: The demo's two rounds of the loop, each a campaign to the offer plan's customers by e-mail into the
#: workspace's mail folder, a tenth held out. Round 1 sends the plan learnt from the generated past
#: campaign with a test of coupon depths (:data:`DEPTH_TEST`); round 2 sends the plan learnt from round
#: 1's measured outcomes, each customer with the coupon that pays best for them.
ROUNDS = ("coupon-test", "next-offer")
#: The demo's last campaign (round 2).
DEMO_CAMPAIGN = ROUNDS[-1]
#: Round 1's variants: one template, three coupons, drawn at random among the plan's customers.
DEPTH_TEST = {"no-coupon": 0.0, "10-off": 0.10, "20-off": 0.20}


def rounds_demo(ws: Workspace, data: Path, seed: int = 42,
                step: Callable[[str], None] = lambda _s: None) -> list[dict]:
    """The loop, twice: send the plan, simulate and load the responses, measure; learn the next plan
    from the measured outcomes. Writes :data:`ROUNDS_TRUTH` and returns its rounds, each with its
    campaign's :func:`campaign_demo` summary under ``sending``."""

    rounds, sending = [], []
    for number, name in enumerate(ROUNDS, start=1):
        if number > 1:
            step(f"round {number}: offers")
            targeting_truth(ws, data, offers_demo(ws))
        # What the plan about to be sent would truly earn as planned (each customer with their coupon).
        planned = json.loads((ws.root / TARGETING_TRUTH).read_text(encoding="utf-8"))
        step(f"round {number}: campaign")
        variants = DEPTH_TEST if number == 1 else None
        info = campaign_demo(ws, data, seed + number - 1, name=name, depths=variants)
        step(f"round {number}: measuring")
        measured = measure_demo(ws, name)
        rounds.append({"round": number, "plan_true_profit": planned["true_profit"]["plan"],
                       "uplift_correlation": planned["uplift_correlation"], **round_truth(ws, data, name),
                       **_measured_profit(measured)})
        sending.append(info)
    (ws.root / ROUNDS_TRUTH).write_text(json.dumps({"rounds": rounds}, indent=2), encoding="utf-8")
    return [{**r, "sending": info} for r, info in zip(rounds, sending)]


def campaign_demo(ws: Workspace, data: Path, seed: int = 42, *, name: str = DEMO_CAMPAIGN,
                  depths: dict[str, float] | None = None) -> dict:
    """One campaign end to end: the offer plan's customers get the bundled template by e-mail
    (written to the workspace's ``outbox`` folder: no server needed), a tenth held out, each with
    their coupon in the plan or, with ``depths`` (variant -> depth), a coupon drawn at random from
    those; then the chain's purchases over the attribution window are simulated from the
    generator's truth and loaded as transactions, with each member's truth in ``data/truth``."""
    from importlib.resources import files

    from .campaigns.simulate import data_end, simulate_responses, write_responses

    # The global control group's draw follows the demo's seed: the same seed, the same demo.
    runner.run_control_group(ws, salt=f"demo-{seed}")
    template = ws.root / "templates" / "next-offer.tmpl"
    template.parent.mkdir(exist_ok=True)
    template.write_text(files("micromarket.campaigns").joinpath("templates", "next-offer.tmpl").read_text())
    variants = ([{"name": v, "template": str(template), "discount_depth": d} for v, d in depths.items()] if depths
                else [{"name": "A", "template": str(template)}])
    runner.run_create_campaign(ws, name, audience_kind="plan", audience_value="offer_plan", template=None,
                               variants=variants, channel="mail_folder", holdout=0.1, seed=seed)
    report = runner.run_launch_campaign(ws, name, at=data_end(ws))
    truth = pd.read_parquet(data / "truth" / "customers_truth.parquet")
    purchases, member_truth = simulate_responses(ws, name, truth, seed=seed)
    responses = write_responses(purchases, member_truth, data, name)
    loaded = ws.ingest(responses, table="transactions").rows_loaded if len(purchases) else 0
    return {"campaign": name, "status": report.status, "sent": report.counts.get("sent", 0),
            "skipped": {k: v for k, v in report.counts.items() if k.startswith("skipped")},
            "responses_loaded": loaded,
            "true_incremental_revenue": float(member_truth["true_incremental_revenue"].sum())}


#: The generator's past campaign: half of the customers known 30 days before it were treated.
PAST_CAMPAIGN, PAST_HOLDOUT = "spring-offer", 0.5


def measure_demo(ws: Workspace, name: str = DEMO_CAMPAIGN) -> "Measurement | None":
    """A campaign the demo sent, measured against its control group, when its plan chose anyone (on
    a small chain it may choose nobody: nothing was sent, so there is nothing to measure). The
    generator's past campaign (whose design, an even split, the demo knows) is measured before the
    offers stage, which learns from its measured outcomes."""
    members = ws.table("campaign_members")
    if members.filter(members.campaign_id == name).count().execute():
        return runner.run_measure(ws, name)
    return None


def round_truth(ws: Workspace, data: Path, name: str) -> dict:
    """What a round sent and truly earned: the customers messaged, the expected true profit of
    contacting them with their coupons at the launch (:func:`~micromarket.campaigns.simulate.expected_contact_profit`)
    and what the simulation drew, from ``data/truth``."""
    from .campaigns.campaign import get_campaign
    from .campaigns.simulate import expected_contact_profit

    drawn = pd.read_parquet(data / "truth" / f"campaign_truth-{name}.parquet")
    sent = drawn[(drawn["group"] == "treatment") & drawn["sent"]].set_index("customer_id")
    record = get_campaign(ws, name)
    run = ws.storage.latest_run("offer_runs")
    truth = pd.read_parquet(data / "truth" / "customers_truth.parquet")
    expected = expected_contact_profit(ws, truth, sent["discount_depth"], record.launched_at,
                                       float(record.attribution_days), float(record.contact_cost),
                                       float(ws.config["profile"]["margin"]))
    learnt_from = json.loads(run["summary"])["campaign"]["campaign_id"] if run is not None else None
    return {"campaign": name, "learnt_from": learnt_from, "sent": int(len(sent)),
            "coupons": {f"{d:.0%}": int(n) for d, n in sent["discount_depth"].value_counts().sort_index().items()},
            "true_expected_profit": float(expected.sum()), "true_drawn_profit": float(sent["true_incremental_profit"].sum())}


def _measured_profit(measured: "Measurement | None") -> dict:
    """The incremental profit a round was measured to earn, with its 95 % interval."""
    if measured is None or not any(r.metric == "profit" for r in measured.results):
        return {"measured_profit": None, "measured_low": None, "measured_high": None}
    profit = measured.result("profit").incremental
    return {"measured_profit": profit.estimate, "measured_low": profit.ci_low, "measured_high": profit.ci_high}


def local_demo(ws: Workspace) -> None:
    """Micro-markets by area and store catchment, store clusters, and the localised assortment."""
    for level in ("area", "store"):
        runner.run_micro_markets(ws, level)
    if ws.table("stores").count().execute() >= MIN_STORES:
        runner.run_store_clusters(ws)
    runner.run_assortment(ws)


def offers_demo(ws: Workspace) -> "OfferPlan":
    """Uplift learnt from the generated past campaign, and the offer plan with its comparison."""
    return runner.run_offer_plan(ws, score_offers(ws))


def targeting_truth(ws: Workspace, data: Path, result: "OfferPlan") -> dict:
    """What the plan and each rule it was compared with would truly earn if sent now, from the
    generator's truth (:func:`~micromarket.campaigns.simulate.expected_contact_profit`), and how
    each offer's estimated uplift correlates with its true uplift now (at the coupon it was learnt
    with: its variant's own, else the generated past campaign's), written beside the truth for the
    report's offers section (:data:`TARGETING_TRUTH`)."""
    import numpy as np

    from .campaigns.simulate import contact_response, data_end, days_since_last, expected_contact_profit
    from .ingest.generate.effects import REFERENCE_DEPTH
    from .offers.scores import offer_depths

    run = ws.storage.latest_run("offer_runs")
    campaign = json.loads(run["summary"])["campaign"]
    days, now = float(campaign["days"]), data_end(ws)
    scores = ws.table("offer_scores").select("customer_id", "offer", "uplift", "discount_depth").to_pandas()
    customers = result.selections.index
    # Each rule gives each of its customers an offer, with that offer's coupon for them.
    depths = scores.pivot(index="customer_id", columns="offer", values="discount_depth").reindex(customers)
    uplift = scores.pivot(index="customer_id", columns="offer", values="uplift").reindex(customers)
    truth = pd.read_parquet(data / "truth" / "customers_truth.parquet")
    since = days_since_last(ws, customers, now)   # one query for every offer's truth and the correlations
    profit = {offer: expected_contact_profit(ws, truth, depths[offer].fillna(0.0), now, days,
                                             float(campaign["contact_cost"]), float(ws.config["profile"]["margin"]),
                                             since)
              for offer in depths.columns}
    true_profit = {}
    for rule, offers in result.selections.items():
        picked = offers.dropna()
        true_profit[rule] = float(sum(profit[o].reindex(picked.index[picked == o]).sum() for o in picked.unique()))
    rows = truth.assign(customer_id=truth["customer_id"].astype(str)).set_index("customer_id").reindex(customers)
    learnt = offer_depths(ws, campaign["campaign_id"])
    correlation = {offer: float(np.corrcoef(uplift[offer].fillna(0.0), contact_response(
                       rows.reset_index(), since, days, learnt.get(offer, REFERENCE_DEPTH))["true_uplift"])[0, 1])
                   for offer in uplift.columns}
    out = {"offer_run_id": int(run["run_id"]), "true_profit": true_profit, "uplift_correlation": correlation}
    (ws.root / TARGETING_TRUTH).write_text(json.dumps(out, indent=2), encoding="utf-8")
    return out


def recommend_demo(ws: Workspace) -> None:
    """Product recommendations (every model checked on the last month, the best kept) and the
    propensity to buy anything in the next 30 days."""
    runner.run_recommendations(ws)
    runner.run_propensity(ws, target="any", days=30)


def segment_demo(ws: Workspace) -> None:
    """Area types, clustered segments (niches and micro-segments too) with personas, and the demo rules."""
    runner.run_area_types(ws)
    customers = ws.table("customer_profile").count().execute()
    runner.run_clusters(ws, "clusters", k="auto", micro_k=max(12, min(60, customers // 400)))
    for name, rule in DEMO_RULES.items():
        runner.run_rule_segment(ws, name, rule, replace=True)
