"""A value a rule names that the data do not have is an error that helps, not an empty segment."""

import pytest

from micromarket.segments.context import suggest_value
from micromarket.segments.context import rule_members
from micromarket.segments.rules import RuleError

from helpers import write


def test_suggestions_ignore_case_and_list_every_value_when_few():
    values = [f"Category {i:02d}" for i in range(30)] + ["Christmas Decorations", "Kitchen"]
    assert suggest_value("kitchen", values) == "did you mean 'Kitchen'?"
    assert "'Christmas Decorations'" in suggest_value("christmas", values)
    listed = suggest_value("zzz", values)
    assert listed.startswith("values: ") and "'Kitchen'" in listed and "'Category 29'" in listed  # not cut at 20
    many = suggest_value("zzz", [f"v{i:03d}" for i in range(100)])
    assert "(60 more)" in many


def test_a_category_rule_on_data_without_categories_says_so(ws, tmp_path):
    ws.ingest(write(tmp_path / "t.csv", "invoice,customer,date,product,qty,price\nI1,C1,2024-01-02 10:00,P1,1,2\n"))
    with pytest.raises(RuleError, match="the data have no category at all"):
        rule_members(ws, 'bought(category="Cheese")').execute()
