"""The ``micromarket`` command: ``init``, ``ingest``, ``profile``, ``info``, ``report``, ``generate``, ``demo``, and the
``segment`` sub-commands (:mod:`micromarket.cli.segment`)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table as RichTable

from ..exceptions import ConfigError
from ..ingest.presets import PRESETS
from ..schema import INGESTIBLE
from ..workspace import Workspace
from .common import JsonOpt, WorkspaceOpt, pairs, print_json
from .progress import counter, note, results, steps, warn
from .access import serve, token_app, user_app
from .campaign import app as campaign_app
from .local import app as local_app
from .measure import measure
from .offers import app as offers_app
from .privacy import erase, export_customer
from .segment import app as segment_app

app = typer.Typer(
    name="micromarket",
    help="Micromarketing engine: customer data in; profiles, segments, local markets and next-best offers out, "
         "on DuckDB or Spark.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.add_typer(segment_app, name="segment")
app.add_typer(local_app, name="local")
app.add_typer(offers_app, name="offers")
app.add_typer(campaign_app, name="campaign")
app.command("erase")(erase)
app.command("export")(export_customer)
app.command("measure")(measure)
app.command("serve")(serve)
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


@app.command()
def suppress(file: Path = typer.Argument(..., help="CSV with a customer_id, email or phone column (and optionally "
                                                     "channel and reason), or a .json/.jsonl file of e-mail providers' "
                                                     "bounce, complaint and unsubscribe payloads."),
             region: Optional[str] = typer.Option(None, help="Country (two letters) to read national phone numbers in."),
             workspace: Path = WorkspaceOpt) -> None:
    """Never contact these customers, addresses or phones again (on every channel, or the file's channel)."""
    from ..runner import run_suppress

    with Workspace.open(workspace) as ws:
        added, ignored = run_suppress(ws, file, region)
    results.print(f"Suppressed {added:,} customer(s), address(es) or phone(s) from {file}")
    if ignored:
        note(f"{ignored:,} event(s) were not permanent (soft bounces, deliveries) and suppress nothing")


BackendOpt = typer.Option("duckdb", "--backend",
                          help="Engine: duckdb (embedded, one file) or spark (a warehouse folder, local mode or a cluster).")


@app.command()
def init(
    directory: Path = typer.Argument(..., help="Folder to create the workspace in."),
    name: Optional[str] = typer.Option(None, help="Workspace name (default: the folder's name)."),
    currency: Optional[str] = typer.Option(None, help="Currency code for money figures, e.g. GBP."),
    timezone: Optional[str] = typer.Option(None, help="IANA time zone of the timestamps, e.g. Europe/London."),
    backend: str = BackendOpt,
    master: Optional[str] = typer.Option(None, help="Spark master URL (with --backend spark; default local[2])."),
) -> None:
    """Create a workspace: micromarket.toml and an empty database."""
    ws = Workspace.create(directory, name=name, currency=currency, timezone=timezone, backend=backend, master=master)
    ws.close()
    where = ws.config["backend"]["warehouse"] + "/ on Spark" if backend == "spark" else ws.database_path.name
    typer.echo(f"Created workspace {directory} ({ws.config_path.name}, {where})")


@app.command()
def ingest(
    source: str = typer.Argument(..., help="CSV/CSV.gz/whitespace text, Parquet file or glob, or postgres:[schema.]table."),
    workspace: Path = WorkspaceOpt,
    table: str = typer.Option("transactions", "--table", "-t", help=f"Target table: {', '.join(INGESTIBLE)}."),
    preset: Optional[str] = typer.Option(None, help=f"Known dataset layout: {', '.join(PRESETS)}."),
    map_: Optional[list[str]] = typer.Option(None, "--map", help="Column mapping CANONICAL=SOURCE; CANONICAL=A+B sums and "
                                             "-A negates numeric columns (repeatable, each canonical column once)."),
    save_mapping: bool = typer.Option(False, "--save-mapping", help="Store the --map pairs in micromarket.toml."),
    delimiter: Optional[str] = typer.Option(None, help="Field delimiter (one character, or 'whitespace'); sniffed by default."),
    header: Optional[bool] = typer.Option(None, "--header/--no-header", help="Whether the first line names the columns; detected by default."),
    encoding: Optional[str] = typer.Option(None, help="Text encoding: utf-8 (default), latin-1 or utf-16."),
    date_format: Optional[str] = typer.Option(None, help="strptime layout of dates, e.g. '%d/%m/%Y %H:%M'; detected by default."),
    decimal: Optional[str] = typer.Option(None, help="Decimal mark of numbers written as text: '.' (default) or ','."),
    on_error: Optional[str] = typer.Option(None, help="fail (default): stop on invalid rows; quarantine: load the rest."),
    rule: Optional[list[str]] = typer.Option(None, "--rule", help="Quality rule action RULE=keep|exclude (repeatable)."),
    url_env: Optional[str] = typer.Option(None, help="Environment variable holding the PostgreSQL URL (default MICROMARKET_POSTGRES_URL)."),
    as_json: bool = JsonOpt,
) -> None:
    """Load a file or database table into the workspace, as one transaction, and report on its quality."""
    mapping = pairs(map_, "--map")
    rules = pairs(rule, "--rule")
    if on_error not in (None, "fail", "quarantine"):
        raise typer.BadParameter(f"--on-error {on_error!r}: expected fail or quarantine")
    with Workspace.open(workspace) as ws:
        if save_mapping:
            if not mapping:
                raise ConfigError("--save-mapping needs at least one --map CANONICAL=SOURCE")
            ws.save_mapping(PRESETS[preset]["table"] if preset else table, mapping)
        with steps(f"Loading {Path(source).name}", ["reading", "checking", "writing"]) as advance:
            report = ws.ingest(source, table=table, preset=preset, mapping=mapping, on_error=on_error,
                               progress=advance, delimiter=delimiter, header=header, encoding=encoding,
                               date_format=date_format, decimal=decimal, url_env=url_env, rules=rules or None)
    if as_json:
        print_json(report.to_dict())
        return
    out = RichTable(title=f"Load {report.load_id}: {report.table} from {report.source}", show_header=False)
    for label, value in report.lines():
        out.add_row(label, value)
    results.print(out)


@app.command()
def profile(
    workspace: Path = WorkspaceOpt,
    observation_end: Optional[str] = typer.Option(None, help="Last day observed, YYYY-MM-DD (default: the last purchase day)."),
    unit: Optional[str] = typer.Option(None, help="Time unit of recency and T: week or day."),
    horizon_months: Optional[int] = typer.Option(None, min=1, help="CLV horizon in months."),
    discount_rate: Optional[float] = typer.Option(None, min=0.0, max=0.99, help="Monthly discount rate, e.g. 0.01."),
    margin: Optional[float] = typer.Option(None, min=0.0, max=1.0, help="Margin share where product costs are unknown."),
    holdout_weeks: Optional[int] = typer.Option(None, min=0, help="Weeks held out to choose the model (0: a third of the period, at most 52)."),
    model: Optional[list[str]] = typer.Option(None, "--model", help="Candidate model, repeatable: bgnbd, pareto_nbd, mbgnbd."),
    as_json: bool = JsonOpt,
) -> None:
    """Compute customer_profile: RFM, the best buy-till-you-die model, spend, CLV, tiers and behaviour."""
    from ..runner import run_profile

    names = ["reading transactions", "summarising", "choosing a model", "fitting", "valuing", "describing", "writing"]
    with Workspace.open(workspace) as ws, steps("Profile", names) as advance:
        result = run_profile(ws, progress=advance, observation_end=observation_end, unit=unit,
                             horizon_months=horizon_months, discount_rate=discount_rate, margin=margin,
                             holdout_weeks=holdout_weeks, models=model or None)
    if as_json:
        print_json(result.to_dict())
        return
    out = RichTable(title=f"Profile run {result.run_id}: {result.customers:,} customers, model {result.model}")
    out.add_column("parameter")
    out.add_column("estimate", justify="right")
    out.add_column("std. error", justify="right")
    for name, value in {**result.params, **result.spend_params}.items():
        se = {**result.standard_errors, **result.spend_standard_errors}[name]
        out.add_row(name, f"{value:.4g}", f"{se:.3g}")
    results.print(out)
    for message in result.warnings:
        warn(message)
    results.print(f"Total CLV over {ws.config['profile']['horizon_months'] if horizon_months is None else horizon_months} "
                  f"months: {result.total_clv:,.0f}; the top 20 % of customers hold {result.pareto_top20_share:.0%} of it.")


@app.command()
def info(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Show the workspace's tables with their row counts, and its loads."""
    with Workspace.open(workspace) as ws:
        counts = ws.counts()
        loads = [{k: v for k, v in load.items() if k != "report"} for load in ws.loads()]
        name = ws.config["workspace"]["name"]
    if as_json:
        print_json({"workspace": name, "tables": counts, "loads": loads})
        return
    out = RichTable(title=f"Workspace {name}")
    out.add_column("table")
    out.add_column("rows", justify="right")
    for table, n in counts.items():
        out.add_row(table, f"{n:,}")
    results.print(out)


@app.command()
def loads(workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """List the loads: what was loaded from where, when, and what each added (unloaded ones marked)."""
    with Workspace.open(workspace) as ws:
        records = [{k: v for k, v in load.items() if k != "report"} for load in ws.loads()]
    if as_json:
        print_json(records)
        return
    out = RichTable(title=f"{len(records)} load(s)")
    for column in ("load", "table", "source", "finished", "read", "added", "already present", "excluded",
                   "quarantined", "status"):
        out.add_column(column, justify="right" if column in ("load", "read", "added", "already present", "excluded",
                                                             "quarantined") else "left")
    for r in records:
        status = f"unloaded {r['unloaded_at']:%Y-%m-%d %H:%M}" if r["unloaded_at"] else "loaded"
        out.add_row(str(r["load_id"]), r["table_name"], r["source"], f"{r['finished_at']:%Y-%m-%d %H:%M}",
                    f"{r['rows_read']:,}", f"{r['rows_loaded']:,}", f"{r['rows_already_present']:,}",
                    f"{r['rows_excluded']:,}", f"{r['rows_quarantined']:,}", status)
    results.print(out)


@app.command()
def unload(load_id: int = typer.Argument(..., help="The load to take out (see `micromarket loads`)."),
           workspace: Path = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Remove the rows one load added, as one transaction; the load stays in the log, marked unloaded."""
    with Workspace.open(workspace) as ws:
        result = ws.unload(load_id)
    if as_json:
        print_json(result)
        return
    removed = ", ".join(f"{n:,} from {table}" for table, n in result["removed"].items()) or "no rows"
    results.print(f"Unloaded load {load_id} ({result['table']} from {result['source']}): removed {removed}.")
    if result["kept_changes"]:
        note(f"{result['kept_changes']:,} existing row(s) it updated or filled in keep the values it gave them.")
    note(result["note"])


@app.command()
def report(
    workspace: Path = WorkspaceOpt,
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file (default reports/overview.html in the workspace)."),
) -> None:
    """Write the self-contained HTML report."""
    from ..runner import run_report

    with Workspace.open(workspace) as ws:
        path = run_report(ws, output)
    typer.echo(str(path))


@app.command()
def generate(
    directory: Path = typer.Argument(..., help="Folder for the generated Parquet files and truth/."),
    customers: int = typer.Option(20_000, min=100, help="Customers to simulate (about 50 lines each)."),
    products: Optional[int] = typer.Option(None, min=20, help="Products (default grows with customers)."),
    stores: Optional[int] = typer.Option(None, min=1, help="Stores (default grows with customers)."),
    seed: int = typer.Option(42, help="Random seed."),
    as_json: bool = JsonOpt,
) -> None:
    """Generate a retail chain with known truth, without loading it."""
    from ..ingest.generate import generate as run

    with counter("Generating customers", customers) as update:
        info_ = run(directory, customers, products=products, stores=stores, seed=seed, progress=update)
    if as_json:
        print_json(info_)
    else:
        results.print(f"Wrote {info_['customers']:,} customers and {info_['transactions']:,} transaction lines to {directory}")


def _round_line(each: dict, outbox: Path) -> str:
    """One round of the demo's loop, in a line: what it sent and earned, measured and true."""
    sent = each["sending"]
    measured = ("not measured" if each["measured_profit"] is None else
                f"measured profit {each['measured_profit']:,.0f} [{each['measured_low']:,.0f}, "
                f"{each['measured_high']:,.0f}]")
    return (f"Round {each['round']}, campaign {each['campaign']} (learnt from {each['learnt_from']}): "
            f"{sent['sent']:,} e-mails written to {outbox}, {sent['responses_loaded']:,} simulated purchases loaded; "
            f"{measured}, true {each['true_expected_profit']:,.0f} (generator)")


@app.command()
def demo(
    directory: Path = typer.Argument(Path("demo-workspace"), help="Workspace folder to create."),
    customers: int = typer.Option(20_000, min=100, help="Customers to simulate."),
    seed: int = typer.Option(42, help="Random seed."),
    force: bool = typer.Option(False, "--force", help="Replace an existing workspace."),
    backend: str = BackendOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Generate a retail chain, load it into a new workspace, run every stage and two rounds of campaigns (e-mails
    written to the workspace's outbox folder, responses simulated from the generator's truth; the second plan
    learnt from the first's measured results), and write the report."""
    from ..demo import STEPS, run_demo

    with counter("Generating customers", customers) as update, steps("Demo", STEPS) as advance:
        result = run_demo(directory, customers, seed=seed, force=force, backend=backend, on_generate=update,
                          on_step=advance)
    if as_json:
        print_json(result)
    else:
        for each in result["rounds"]:
            results.print(_round_line(each, Path(directory) / "outbox"))
        results.print(f"Report written to {result['report']}")
