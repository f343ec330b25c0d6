"""Rule segments: the language against hand-written SQL, errors that point, a fuzzed parser."""

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from micromarket.exceptions import SchemaError
from micromarket.segments import RuleError, list_segments, overlap, parse
from micromarket.runner import run_delete_segment, run_rule_segment, run_rule_segments
from micromarket.segments.store import members

# (rule, equivalent SQL over the same tables) -- written independently of the translator.
BASE_SQL = """
WITH ids AS (SELECT customer_id FROM customer_profile UNION SELECT customer_id FROM customers),
base AS (SELECT ids.customer_id, p.*, c.gender, c.birth_year, c.area_id, a.median_income, a.population_density
         FROM ids LEFT JOIN customer_profile p USING (customer_id) LEFT JOIN customers c USING (customer_id)
         LEFT JOIN areas a ON a.area_id = c.area_id),
last AS (SELECT max(ts)::DATE AS d FROM transactions)
"""
BOUGHT_CHEESE_90 = """customer_id IN (SELECT t.customer_id FROM transactions t JOIN products p USING (product_id), last
    WHERE p.category = 'Cheese' AND NOT coalesce(t.is_return, false) AND t.customer_id IS NOT NULL
      AND t.ts >= last.d + INTERVAL 1 DAY - INTERVAL 90 DAY)"""
CASES = [
    ("clv > 100", "clv > 100"),
    ("p_alive < 0.3 and frequency >= 2", "p_alive < 0.3 AND frequency >= 2"),
    ('value_tier == "heavy" or rfm_segment in ["Champions", "Loyal"]',
     "value_tier = 'heavy' OR rfm_segment IN ('Champions', 'Loyal')"),
    ("not (preferred_channel == 'store')", "NOT (preferred_channel = 'store')"),
    ("mean_interpurchase_days is null", "mean_interpurchase_days IS NULL"),
    ("price_sensitivity between 0.4 and 0.6 and n_categories > 3",
     "price_sensitivity BETWEEN 0.4 AND 0.6 AND n_categories > 3"),
    ("clv / (frequency + 1) > 20 and -recency < -10", "clv / (frequency + 1) > 20 AND -recency < -10"),
    ("area.median_income > 60000 and gender == 'female'", "median_income > 60000 AND gender = 'female'"),
    ('bought(category="Cheese", within="90d") and p_alive > 0.5', BOUGHT_CHEESE_90 + " AND p_alive > 0.5"),
    ('bought(category="Wine", channel="web", min_count=2, min_spend=40)',
     """customer_id IN (SELECT t.customer_id FROM transactions t JOIN products p USING (product_id)
        WHERE p.category = 'Wine' AND t.channel = 'web' AND NOT coalesce(t.is_return, false)
        GROUP BY t.customer_id HAVING count(DISTINCT t.invoice_id) >= 2 AND sum(t.amount) >= 40)"""),
    ("age >= 60 and top_category not in ['Snacks', 'Wine']",
     "(SELECT year(d) FROM last) - birth_year >= 60 AND top_category NOT IN ('Snacks', 'Wine')"),
]


@pytest.mark.parametrize("rule, sql", CASES, ids=[c[0][:40] for c in CASES])
def test_rule_segments_equal_hand_written_sql(chain, rule, sql):
    ws, _ = chain
    name = "eq-" + str(abs(hash(rule)))
    info = run_rule_segment(ws, name, rule, replace=True)
    expected = {r[0] for r in ws.con.execute(f"{BASE_SQL} SELECT customer_id FROM base WHERE {sql}").fetchall()}
    got = set(members(ws, name).execute()["customer_id"])
    assert got == expected and info["size"] == len(expected)
    assert 0 < len(expected) < len(ws.table("customer_profile").execute())  # a real filter, not all or none


def test_errors_point_at_the_position_and_say_what_was_expected(chain):
    ws, _ = chain
    with pytest.raises(RuleError) as err:
        parse("clv > 100 and")
    assert err.value.position == len("clv > 100 and") and "expected" in str(err.value) and "a column name" in str(err.value)
    with pytest.raises(RuleError, match=r"unknown name 'p_alvie'; did you mean p_alive"):
        run_rule_segment(ws, "typo", "p_alvie > 0.5")
    with pytest.raises(RuleError, match=r"no category 'Chese' in the data; did you mean 'Cheese'"):
        run_rule_segment(ws, "typo", 'bought(category="Chese")')
    with pytest.raises(RuleError, match="cannot compare clv"):
        run_rule_segment(ws, "typo", 'clv > "a lot"')
    with pytest.raises(RuleError, match="must be a condition"):
        run_rule_segment(ws, "typo", "clv * 2")
    assert "typo" not in set(list_segments(ws)["name"])


def test_saved_segments_compose_refresh_and_overlap(chain):
    ws, _ = chain
    run_rule_segment(ws, "ov-valuable", "clv > 80")
    run_rule_segment(ws, "ov-fading", "p_alive < 0.5")
    run_rule_segment(ws, "ov-both", 'in_segment("ov-valuable") and in_segment("ov-fading")')
    pairs = overlap(ws, ["ov-valuable", "ov-fading", "ov-both"]).set_index(["a", "b"])
    n_both = ws.con.execute("SELECT count(*) FROM customer_profile WHERE clv > 80 AND p_alive < 0.5").fetchone()[0]
    assert pairs.loc[("ov-valuable", "ov-fading"), "both"] == n_both == pairs.loc[("ov-both", "ov-valuable"), "both"]
    assert pairs.loc[("ov-both", "ov-fading"), "share_of_a_in_b"] == 1.0
    # Membership follows the data: change a profile value, refresh, and the segment changes.
    someone = ws.con.execute("SELECT customer_id FROM customer_profile WHERE clv <= 80 LIMIT 1").fetchone()[0]
    ws.con.execute("UPDATE customer_profile SET clv = 1000 WHERE customer_id = ?", [someone])
    assert run_rule_segments(ws) >= 3
    assert someone in set(members(ws, "ov-valuable").execute()["customer_id"])
    with pytest.raises(SchemaError, match="used by 'ov-both'"):
        run_delete_segment(ws, "ov-valuable")
    with pytest.raises(SchemaError, match="exists"):
        run_rule_segment(ws, "ov-fading", "clv > 1")


def _snapshot(ws):
    tables = [r[0] for r in ws.con.execute("SELECT table_name FROM duckdb_tables() WHERE NOT temporary").fetchall()]
    return {t: ws.con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}


INJECTIONS = ["clv > 1; drop table customers", "clv > 1 -- comment", "clv > 1 /* x */", "clv > '1' or '1'='1'",
              "customer_id == \"x\"; DELETE FROM segments", "read_csv('/etc/passwd')", "clv > 1 union select 1",
              "\"; drop table transactions; --", "clv > (select 1)", "pragma version", "exec('x')", "__import__('os')",
              "clv > 1 and lower(gender) == 'f'", "clv`", "clv > 1e999999"]


@pytest.mark.parametrize("rule", INJECTIONS)
def test_injection_attempts_are_rejected_and_change_nothing(chain, rule):
    ws, _ = chain
    before = _snapshot(ws)
    with pytest.raises(RuleError):
        run_rule_segment(ws, "inject", rule)
    assert _snapshot(ws) == before


WORDS = ["clv", "p_alive", "and", "or", "not", "in", "is", "null", "between", "bought", "in_segment", "==", "<", ">=",
         "(", ")", "[", "]", ",", "=", "'x'", '"Cheese"', "1", "-2.5", "+", "*", "/", ";", "--", "drop", "table",
         "area.type", "category", "within", "\"90d\"", "select", "'", '"']


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(st.text(alphabet=string.printable, max_size=40),
                 st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)))
def test_fuzzed_rules_raise_only_rule_errors(chain, text):
    ws, _ = chain
    before = _snapshot(ws)
    try:
        run_rule_segment(ws, "fuzz", text, replace=True)
    except RuleError:
        pass
    after = _snapshot(ws)
    # Only the fuzz segment's own row and members may change.
    assert {k: v for k, v in after.items() if k not in ("segments", "segment_members")} == \
        {k: v for k, v in before.items() if k not in ("segments", "segment_members")}
