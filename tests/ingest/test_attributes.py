"""Columns the canonical model has no name for are kept as typed attributes, bands in their order."""

import json

import pytest

from micromarket.ingest.attributes import band_bound, band_levels

from helpers import write

DEMOGRAPHICS = (
    "household_key,AGE_DESC,MARITAL_STATUS_CODE,INCOME_DESC,HOMEOWNER_DESC,HOUSEHOLD_SIZE_DESC,KID_CATEGORY_DESC,visits\n"
    "1,65+,A,35-49K,Homeowner,2,None/Unknown,3\n"
    "7,45-54,A,50-74K,Homeowner,2,None/Unknown,5\n"
    "8,25-34,U,25-34K,Unknown,3,1,1\n"
    "13,25-34,U,75-99K,Homeowner,4,2,2\n"
    "16,45-54,B,Under 15K,Renter,1,None/Unknown,8\n"
    "17,19-24,B,250K+,Homeowner,5+,3+,\n"
    "18,35-44,B,100-124K,Probable Owner,3,1,4\n"
)


@pytest.mark.parametrize("value, bound", [("50-74K", 50_000), ("Under 15K", float("-inf")), ("65+", 65),
                                          ("$1,000-$1,999", 1000), ("100-124k", 100_000), ("3", 3), ("Unknown", None),
                                          ("Homeowner", None), ("1.5M+", 1_500_000)])
def test_band_bounds(value, bound):
    assert band_bound(value) == bound


def test_band_levels_order_ranges_and_set_aside_unknowns():
    levels = band_levels(["100-124K", "Under 15K", "50-74K", "250K+", "Unknown", "15-24K"])
    assert levels == {"order": ["Under 15K", "15-24K", "50-74K", "100-124K", "250K+"], "unordered": ["Unknown"]}
    assert band_levels(["1", "2", "3"]) is None  # plain numbers are numbers, not bands
    assert band_levels(["A", "B"]) is None and band_levels(["65+"]) is None


def test_a_customers_file_keeps_its_demographics_typed(ws, tmp_path):
    report = ws.ingest(write(tmp_path / "hh.csv", DEMOGRAPHICS), table="customers",
                       mapping={"customer_id": "household_key"})
    kinds = {a["column"]: a["kind"] for a in report.attributes}
    assert kinds == {"age_desc": "band", "marital_status_code": "category", "income_desc": "band",
                     "homeowner_desc": "category", "household_size_desc": "band", "kid_category_desc": "band",
                     "visits": "number"}
    assert report.unused_columns == []
    stored = dict(ws.con.execute("SELECT column_name, levels FROM attributes WHERE table_name = 'customers'").fetchall())
    assert json.loads(stored["income_desc"])["order"] == ["Under 15K", "25-34K", "35-49K", "50-74K", "75-99K",
                                                          "100-124K", "250K+"]
    assert json.loads(stored["kid_category_desc"]) == {"order": ["1", "2", "3+"], "unordered": ["None/Unknown"]}
    got = ws.con.execute("SELECT income_desc, visits FROM customers WHERE customer_id = '7'").fetchone()
    assert got == ("50-74K", 5.0)
    assert ("kept as age_desc", "band (19-24 < 25-34 < 35-44 < 45-54 < 65+)") in report.lines()


def test_a_later_file_with_text_where_numbers_were_keeps_both(ws, tmp_path):
    ws.ingest(write(tmp_path / "a.csv", "customer_id,kids\n1,1\n2,2\n"), table="customers")
    report = ws.ingest(write(tmp_path / "b.csv", "customer_id,kids\n3,3+\n4,1\n"), table="customers")
    assert report.attributes[0]["kind"] == "band" and report.attributes[0]["levels"]["order"] == ["1", "2", "3+"]
    assert ws.con.execute("SELECT customer_id, kids FROM customers ORDER BY 1").fetchall() == \
        [("1", "1"), ("2", "2"), ("3", "3+"), ("4", "1")]


def test_a_products_file_keeps_manufacturer_and_size(ws, tmp_path):
    path = write(tmp_path / "p.csv", "PRODUCT_ID,MANUFACTURER,DEPARTMENT,BRAND,COMMODITY_DESC,CURR_SIZE_OF_PRODUCT\n"
                                     "25671,2,GROCERY,National,FRZN ICE,22 LB\n26081,2,MISC. TRANS.,National,NO COMMODITY,\n")
    report = ws.ingest(path, table="products", mapping={"category": "COMMODITY_DESC"})
    kinds = {a["column"]: a["kind"] for a in report.attributes}
    assert kinds == {"manufacturer": "number", "department": "category", "curr_size_of_product": "category"}
    assert report.mapping["brand"] == "BRAND"
    assert ws.con.execute("SELECT department, curr_size_of_product FROM products WHERE product_id = '25671'").fetchone() == \
        ("GROCERY", "22 LB")


def test_rules_read_bands_in_their_order(ws, tmp_path):
    from micromarket.segments.context import rule_members
    from micromarket.segments.rules import RuleError

    ws.ingest(write(tmp_path / "hh.csv", DEMOGRAPHICS), table="customers", mapping={"customer_id": "household_key"})

    def members(rule):
        return sorted(rule_members(ws, rule).execute()["customer_id"], key=int)

    assert members('income_desc >= "50-74K"') == ["7", "13", "17", "18"]  # not "100-124K" < "50-74K" as text
    assert members('customer.income_desc < "25-34K"') == ["16"]
    assert members('kid_category_desc > 0') == ["8", "13", "17", "18"]  # None/Unknown is no band: not counted
    assert members('kid_category_desc == "None/Unknown"') == ["1", "7", "16"]
    assert members('age_desc between "25-34" and "45-54" and homeowner_desc == "Homeowner"') == ["7", "13"]
    assert members('visits >= 4') == ["7", "16", "18"]
    with pytest.raises(RuleError, match=r"'50-75K' is not a band of .*Under 15K < 25-34K.*did you mean '50-74K'"):
        members('income_desc >= "50-75K"')
    assert members('income_desc between 25000 and 50000') == ["1", "7", "8"]  # bands starting in that range
    with pytest.raises(RuleError, match="needs two of its bands or two numbers"):
        members('income_desc between "25-34K" and 50000')


def test_an_age_column_is_the_age_rules_read(ws, tmp_path):
    from micromarket.segments.context import rule_members

    ws.ingest(write(tmp_path / "c.csv", "customer_id,age\n1,25\n2,67\n3,\n"), table="customers")
    assert sorted(rule_members(ws, "age > 30").execute()["customer_id"]) == ["2"]


def test_attributes_with_decimal_commas_are_numbers(ws, tmp_path):
    path = write(tmp_path / "eu.csv", "customer_id;score;band\n1;0,5;A\n2;1.234,75;B\n")
    report = ws.ingest(path, table="customers", decimal=",")
    assert {a["column"]: a["kind"] for a in report.attributes} == {"score": "number", "band": "category"}
    assert dict(ws.con.execute("SELECT customer_id, score FROM customers").fetchall()) == {"1": 0.5, "2": 1234.75}
