"""The demo: generate a chain, load it into a fresh workspace, run every stage, write the report.

``micromarket demo DIR`` and ``make demo`` call :func:`run_demo`; each stage runs through
:mod:`micromarket.runner`, so the demo stores exactly what the commands would.
"""

from __future__ import annotations

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
from .reports.sections.offers import TARGETING_TRUTH
from .workspace import Workspace

if TYPE_CHECKING:
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
         "local markets", "measuring the past campaign", "offers", "recommendations and propensity", "campaign",
         "measuring the campaign", "writing report"]


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
        Run the demo's campaign and load its simulated responses (see :func:`campaign_demo`).
    on_generate, on_step : callable, optional
        Progress callbacks: (customers done, total), and the name of each step.

    Returns
    -------
    dict
        ``generated`` (sizes), ``loads`` (table -> rows loaded), ``report`` (path).
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
    ws.update_config({"offers": {"discount_depths": [0.0, 0.1, 0.2]}})
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
        step("campaign")
        campaign_info = campaign_demo(ws, data, seed) if campaign else None
        step("measuring the campaign")
        if campaign:
            measure_demo(ws)
        step("writing report")
        report = runner.run_report(ws)
    finally:
        ws.close()
    return {"generated": info, "loads": loads, "campaign": campaign_info, "report": str(report)}


#: The demo's campaign: the offer plan's customers, by e-mail into the workspace's mail folder.
DEMO_CAMPAIGN = "next-offer"


def campaign_demo(ws: Workspace, data: Path, seed: int = 42) -> dict:
    """One campaign end to end: the offer plan's customers get the bundled template by e-mail
    (written to the workspace's ``outbox`` folder: no server needed), a tenth held out; then
    their responses over the attribution window are simulated from the generator's truth and
    loaded as transactions, with each member's truth in ``data/truth``."""
    from importlib.resources import files

    from .campaigns.simulate import data_end, simulate_responses, write_responses

    # The global control group's draw follows the demo's seed: the same seed, the same demo.
    runner.run_control_group(ws, salt=f"demo-{seed}")
    template = ws.root / "templates" / f"{DEMO_CAMPAIGN}.tmpl"
    template.parent.mkdir(exist_ok=True)
    template.write_text(files("micromarket.campaigns").joinpath("templates", "next-offer.tmpl").read_text())
    runner.run_create_campaign(ws, DEMO_CAMPAIGN, audience_kind="plan", audience_value="offer_plan",
                               template=None, variants=[{"name": "A", "template": str(template)}],
                               channel="mail_folder", holdout=0.1)
    report = runner.run_launch_campaign(ws, DEMO_CAMPAIGN, at=data_end(ws))
    truth = pd.read_parquet(data / "truth" / "customers_truth.parquet")
    purchases, member_truth = simulate_responses(ws, DEMO_CAMPAIGN, truth, seed=seed)
    responses = write_responses(purchases, member_truth, data, DEMO_CAMPAIGN)
    loaded = ws.ingest(responses, table="transactions").rows_loaded if len(purchases) else 0
    return {"campaign": DEMO_CAMPAIGN, "status": report.status, "sent": report.counts.get("sent", 0),
            "skipped": {k: v for k, v in report.counts.items() if k.startswith("skipped")},
            "responses_loaded": loaded,
            "true_incremental_revenue": float(member_truth["true_incremental_revenue"].sum())}


#: The generator's past campaign: half of the customers known 30 days before it were treated.
PAST_CAMPAIGN, PAST_HOLDOUT = "spring-offer", 0.5


def measure_demo(ws: Workspace) -> None:
    """The campaign the demo just sent, measured against its control group, when its plan chose
    anyone (on a small chain it may choose nobody: nothing was sent, so there is nothing to measure).
    The generator's past campaign (whose design, an even split, the demo knows) is measured before
    the offers stage, which learns from its measured outcomes."""
    members = ws.table("campaign_members")
    if members.filter(members.campaign_id == DEMO_CAMPAIGN).count().execute():
        runner.run_measure(ws, DEMO_CAMPAIGN)


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
    generator's truth (:func:`~micromarket.campaigns.simulate.expected_contact_profit`), written
    beside the truth for the report's offers section (:data:`TARGETING_TRUTH`)."""
    import json

    from .campaigns.simulate import data_end, expected_contact_profit

    run = ws.storage.latest_run("offer_runs")
    summary = json.loads(run["summary"])
    # Every rule gives its customers the (one) offer with their personal discount depth.
    scores = ws.table("offer_scores").to_pandas()
    mine = scores[scores["offer"] == summary["offers"][0]].set_index("customer_id")["discount_depth"]
    depth = mine.reindex(result.selections.index).fillna(0.0)
    truth = pd.read_parquet(data / "truth" / "customers_truth.parquet")
    profit = expected_contact_profit(ws, truth, depth, data_end(ws), float(summary["campaign"]["days"]),
                                     float(summary["campaign"]["contact_cost"]), float(ws.config["profile"]["margin"]))
    out = {"offer_run_id": int(run["run_id"]),
           "true_profit": {rule: float(profit[picked.to_numpy()].sum()) for rule, picked in result.selections.items()}}
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
