"""The profile says when its CLV is weak, on the real data where it was found: in the result, the
run record and the report; and stays quiet where the weakness is absent."""

import warnings

import pytest

from micromarket import Workspace
from micromarket.clv.diagnostics import DROPOUT_LR_CRITICAL, mean_dropout, no_dropout_log_likelihood
from micromarket.clv.selection import CANDIDATES
from micromarket.profile import latest_run
from micromarket.runner import run_profile
from micromarket.reports import write_report


def _profiled(root, source, **options):
    ws = Workspace.create(root)
    ws.ingest(source, **options)
    return ws, run_profile(ws)


def _ratio(ws, result) -> float:
    """Twice the chosen model's gain over the no-dropout limit, refitted here from the stored profile."""
    rfm = ws.table("customer_profile").select("frequency", "recency", "T").execute()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = CANDIDATES[result.model]().fit(rfm)
    return 2 * (model.log_likelihood_ - no_dropout_log_likelihood(rfm)), model


def _tied(result) -> list[str]:
    return [c["model"] for c in result.comparison if c["tied_with_best"]]


@pytest.fixture(scope="module")
def retail(data_dir, tmp_path_factory):
    ws, result = _profiled(tmp_path_factory.mktemp("retail") / "ws",
                           data_dir / "online_retail" / "online_retail.csv.gz", preset="online-retail")
    yield ws, result
    ws.close()


def test_online_retail_dropout_not_identified(retail):
    """Every Online Retail customer comes out alive: the models fit no better than without dropout."""
    ws, result = retail
    ratio, _ = _ratio(ws, result)
    assert ratio < DROPOUT_LR_CRITICAL and result.dropout_identified is False
    found = [w for w in result.warnings if w.startswith("dropout not identified")]
    assert len(found) == 1 and "upper bound" in found[0]
    # One cause, one warning: the loose rate is not repeated.
    assert not [w for w in result.warnings if "larger than itself" in w]


def test_online_retail_models_indistinguishable_on_the_holdout(retail):
    _, result = retail
    tied = _tied(result)
    found = [w for w in result.warnings if w.startswith("the models are indistinguishable")]
    assert tied and len(found) == 1 and all(name in found[0] for name in tied)


def test_warnings_in_the_run_record_and_the_report(retail):
    ws, result = retail
    run = latest_run(ws)
    assert run["warnings"] == result.warnings and run["dropout_identified"] is False
    html = write_report(ws).read_text(encoding="utf-8")
    value = html[html.index('id="customer-value"'):html.index("</section>", html.index('id="customer-value"'))]
    assert 'class="warnings"' in value and "dropout not identified" in value
    assert "indistinguishable on the holdout" in value and "not identified</div>" in value


def test_cdnow_dropout_identified_and_free_repeat_orders_named(data_dir, tmp_path):
    """CDNOW's customers do stop buying: no dropout warning. Its zero-value repeat orders are left
    out of the spend fit, with a warning that counts them."""
    ws, result = _profiled(tmp_path / "cdnow", data_dir / "cdnow" / "CDNOW_master.txt", preset="cdnow")
    try:
        ratio, model = _ratio(ws, result)
        free = ws.con.execute("SELECT count(*) FROM customer_profile WHERE frequency > 0 AND monetary_value <= 0")
        free = free.fetchone()[0]
    finally:
        ws.close()
    _, rate, error = mean_dropout(model)
    assert ratio > DROPOUT_LR_CRITICAL and result.dropout_identified and error < rate
    assert not [w for w in result.warnings if w.startswith("dropout not identified") or "larger than itself" in w]
    assert bool(_tied(result)) == any(w.startswith("the models are indistinguishable") for w in result.warnings)
    spend = [w for w in result.warnings if "worth nothing" in w]
    assert free > 0 and len(spend) == 1 and spend[0].startswith(f"{free:,} repeat buyer")
