"""The right to erasure and the export of one customer's data, on a generated chain with a
campaign sent to a mail folder: after an erasure the customer's id, e-mail and phone are in no
table and no message file, campaign counts and revenue still add up, and the audit names no id."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import stat

import ibis
import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner

from micromarket import runner
from micromarket.campaigns.channels import message_id
from micromarket.campaigns.suppression import email_key, suppression_rows
from micromarket.demo import run_demo
from micromarket.exceptions import SchemaError
from micromarket.privacy import (PSEUDONYM_PREFIX, SALT_FILE, customer_export, customer_hash, erase_files, erased_at,
                                 plan_erasure, write_export)
from micromarket.runner import run_create_campaign, run_launch_campaign, run_rule_segment
from micromarket.schema import TABLES
from micromarket.storage.base import arrow_schema
from micromarket.workspace import Workspace

from helpers import write

PHONE = "+447700900461"
CAMPAIGN = "autumn"


# -- the workspace ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A 600-customer chain with a campaign sent to the mail folder, and one customer who is in
    every kind of table: (root, customer id, e-mail)."""
    base = tmp_path_factory.mktemp("privacy")
    root = base / "shop"
    run_demo(root, customers=600, seed=3)
    template = write(base / "hello.txt", "Hello {{ customer.first_name }}")
    with Workspace.open(root) as ws:
        ws.update_config({"campaigns": {"cap_day": 0, "cap_week": 0, "quiet_hours": []}})
        run_create_campaign(ws, CAMPAIGN, audience_kind="rule", audience_value="frequency >= 0", template=str(template),
                            channel="mail_folder", holdout=0.1)
        run_launch_campaign(ws, CAMPAIGN)
        customer = _pick(ws)
        email = _add_personal_rows(ws, customer)
    return root, customer, email


def _pick(ws) -> str:
    """A customer sent the campaign's message and a member of the demo's past campaign."""
    sends, members = ws.table("campaign_sends"), ws.table("campaign_members")
    sent = sends.filter(sends.state == "sent").select("customer_id")
    past = members.filter(members.campaign_id == "spring-offer").select("customer_id")
    ids = sorted(r["customer_id"] for r in ws.storage.rows(sent.semi_join(past, "customer_id")))
    # A short id ("7", "10") can be quoted in a run's JSON by chance (a key, a setting): take a long one.
    return next(i for i in ids if len(i) >= 3)


def _add_personal_rows(ws, customer: str) -> str:
    """Give the customer a phone, suppressions, an event, a quarantined source row, a list
    audience entry and an offer-plan row (the demo has none of these); returns their e-mail."""
    email = ws.storage.rows(ws.table("customers").filter(lambda t: t.customer_id == customer))[0]["email"]
    ws.storage.upsert("customers", pa.table({"customer_id": [customer], "phone": [PHONE]}), key=("customer_id",))
    ws.storage.append("suppressions", suppression_rows(
        [("customer_id", customer, "all", "imported"), ("email", email_key(email), "email", "unsubscribed"),
         ("phone", PHONE, "sms", "imported"), ("email", "someone.else@example.com", "all", "imported")], "test"))
    now = dt.datetime(2024, 11, 2, 10, 0)
    ws.storage.append("events", pa.Table.from_pylist(
        [{"event_id": "e1", "customer_id": customer, "ts": now, "event_type": "visit",
          "properties": json.dumps({"email": email})},
         {"event_id": "e2", "customer_id": "other", "ts": now, "event_type": "visit", "properties": "{}"}],
        schema=arrow_schema("events", ["event_id", "customer_id", "ts", "event_type", "properties"])))
    ws.storage.append("quarantine", pa.concat_tables([_quarantined(ws, customer, email, 601),
                                                      _quarantined(ws, customer + "1", "x@example.com", 602)]))
    ws.storage.append("campaign_lists", pa.table({"campaign_id": [CAMPAIGN], "customer_id": [customer]}))
    ws.storage.append("offer_plan", pa.table({"customer_id": [customer], "offer": ["treatment"], "channel": ["email"]}))
    return email


def _quarantined(ws, customer: str, email: str, row: int) -> pa.Table:
    """A quarantined customers row as ingest keeps it: the source row as JSON under its columns."""
    load = ws.storage.rows(ws.table("loads").filter(lambda t: t.table_name == "customers"))[0]
    mapping = json.loads(load["report"])["mapping"]
    raw = json.dumps({mapping["customer_id"]: customer, mapping["email"]: email, "birth_year": "abc", "_row": row},
                     separators=(",", ":"))
    return pa.Table.from_pylist([{"load_id": load["load_id"], "table_name": "customers", "source": load["source"],
                                  "source_row": row, "column_name": "birth_year", "value": "abc",
                                  "rule": "type:integer", "message": "not a whole number", "raw": raw}],
                                schema=arrow_schema("quarantine"))


@pytest.fixture
def shop(tmp_path, source):
    """A fresh copy of the workspace (erasing writes), opened: (ws, customer id, e-mail)."""
    root, customer, email = source
    shutil.copytree(root, tmp_path / "shop")
    ws = Workspace.open(tmp_path / "shop")
    yield ws, customer, email
    ws.close()


def _erase(ws, customer: str):
    """What ``micromarket erase`` runs (``runner.run_erase``): the plan's writes as one unit (with the
    loading database's on Spark), then the files outside the database."""
    erasure = plan_erasure(ws, customer)
    with ws.storage.atomic():
        ws.storage.apply(erasure.output)
        if erasure.loading is not None:
            ws.loading.apply(erasure.loading)
    return erase_files(erasure)


#: Ids of other things, which may equal a customer id by chance (the demo numbers invoices and
#: customers alike from 1): searched for the texts, not for the id.
OTHER_IDS = {"invoice_id", "original_invoice_id", "product_id", "store_id", "area_id", "event_id", "campaign_id"}


def _holding(storage, customer: str, texts: list[str]) -> dict[str, int]:
    """``table.column`` -> rows of every text column of every table that hold the customer: the
    id as the whole value or quoted (as JSON and rules write it), or any of ``texts`` anywhere."""
    found = {}
    for name in TABLES:
        table = storage.table(name)
        for column, dtype in table.schema().items():
            if dtype.is_string():
                col = table[column]
                hit = ibis.literal(False) if column in OTHER_IDS else \
                    (col == customer) | col.contains(json.dumps(customer)) | col.contains(f"'{customer}'")
                for text in texts:
                    hit |= col.lower().contains(text.lower())
                n = storage.rows(table.filter(hit.fill_null(False)).aggregate(n=lambda t: t.count()))[0]["n"]
                if n:
                    found[f"{name}.{column}"] = n
    return found


def _mine(ws, name: str, customer: str) -> list[dict]:
    return ws.storage.rows(ws.table(name).filter(lambda t: t.customer_id == customer))


# -- erasing ----------------------------------------------------------------------------------------
def test_after_erasing_no_table_and_no_message_file_holds_the_customer(shop):
    ws, customer, email = shop
    sends = _mine(ws, "campaign_sends", customer)
    digests = [s["message_id"].strip("<>").partition("@")[0] for s in sends]
    # The message ids and receiver ids are hashes of the customer id: they must go too.
    texts = [email, PHONE, *digests]
    before = _holding(ws.storage, customer, texts)
    assert {"customers.customer_id", "customers.email", "customers.phone", "transactions.customer_id",
            "events.customer_id", "events.properties", "campaign_members.customer_id", "campaign_sends.customer_id",
            "campaign_sends.message_id", "campaign_sends.provider_id", "suppressions.value", "quarantine.raw",
            "segment_members.customer_id", "customer_profile.customer_id", "recommendations.customer_id",
            "offer_scores.customer_id", "offer_plan.customer_id", "propensity_scores.customer_id",
            "campaign_lists.customer_id", "customer_category_shares.customer_id"} <= set(before)
    outbox = ws.root / "outbox"
    messages = len(list(outbox.glob("*.eml")))
    assert any(email in p.read_text() for p in outbox.glob(f"{digests[0]}.eml"))

    erasure = _erase(ws, customer)

    assert _holding(ws.storage, customer, texts) == {}
    assert [p for p in outbox.glob("*.eml") if email in p.read_text()] == []
    assert len(list(outbox.glob("*.eml"))) == messages - 1
    assert erasure.files_deleted == [str(outbox / f"{digests[0]}.eml")]
    assert erasure.mentions == {} and erasure.kept_files == [] and erasure.external == {}
    # What the customer's rows were loaded from: to erase there too.
    assert any(s.startswith("customers: ") for s in erasure.sources)
    assert any(s.startswith("transactions: ") for s in erasure.sources)


def test_only_the_customers_rows_go(shop):
    ws, customer, _ = shop
    counts = ws.counts()
    erasure = _erase(ws, customer)
    after = ws.counts()
    assert erasure.deleted == {name: counts[name] - after[name] for name in counts
                               if counts[name] > after[name]}
    assert erasure.deleted["customers"] == 1 and erasure.deleted["events"] == 1
    assert erasure.deleted["suppressions"] == 3  # id, e-mail and phone; another address stays
    assert erasure.deleted["quarantine"] == 1  # not the row of the customer whose id starts alike
    assert all(counts[name] == after[name] for name in erasure.pseudonymised)  # kept, not deleted
    assert _mine(ws, "events", "other") and ws.storage.count("suppressions") == 1


def test_campaign_counts_and_revenue_still_add_up(shop):
    ws, customer, _ = shop
    before = _figures(ws)
    _erase(ws, customer)
    assert _figures(ws) == before


def _figures(ws) -> dict:
    """Members per campaign and group, sends per campaign and state, each group's revenue after
    assignment and buyers, and the whole log's revenue, lines and customers."""
    members, sends, tx = ws.table("campaign_members"), ws.table("campaign_sends"), ws.table("transactions")
    joined = members.join(tx, "customer_id").filter(lambda t: t.ts >= t.assigned_at)
    by_group = joined.group_by("campaign_id", "treatment_group").aggregate(
        revenue=joined.amount.sum().round(6), buyers=joined.customer_id.nunique())
    return {
        "members": ws.storage.rows(members.group_by("campaign_id", "treatment_group").aggregate(n=members.count())
                                   .order_by(["campaign_id", "treatment_group"])),
        "sends": ws.storage.rows(sends.group_by("campaign_id", "state").aggregate(n=sends.count())
                                 .order_by(["campaign_id", "state"])),
        "revenue": ws.storage.rows(by_group.order_by(["campaign_id", "treatment_group"])),
        "log": ws.storage.rows(tx.aggregate(revenue=tx.amount.sum().round(6), lines=tx.count(),
                                            customers=tx.customer_id.nunique())),
    }


def test_the_rows_kept_share_one_random_pseudonym_that_leads_nowhere(shop, tmp_path, source):
    ws, customer, _ = shop
    kept = {name: _mine(ws, name, customer) for name in ("transactions", "campaign_members", "campaign_sends")}
    erasure = _erase(ws, customer)
    pseudonyms = {name: {r["customer_id"] for r in ws.storage.rows(
        ws.table(name).filter(lambda t: t.customer_id.startswith(PSEUDONYM_PREFIX)))} for name in kept}
    (pseudonym,) = set.union(*pseudonyms.values())
    assert all(p == {pseudonym} for p in pseudonyms.values())
    assert len(pseudonym) == len(PSEUDONYM_PREFIX) + 16 and customer not in pseudonym
    assert erasure.pseudonymised == {name: len(rows) for name, rows in kept.items()}
    # Random, not derived from the id: the same customer erased in another copy gets another one.
    other = Workspace.open(shutil.copytree(source[0], tmp_path / "again"))
    try:
        assert _erase(other, customer).subject.pseudonym != pseudonym
    finally:
        other.close()
    # Nothing else in the kept rows leads back: new line keys, the message id of the pseudonym.
    old_lines = {r["line_id"] for r in kept["transactions"]}
    new_lines = {r["line_id"] for r in _mine(ws, "transactions", pseudonym)}
    assert len(new_lines) == len(old_lines) and not old_lines & new_lines
    send = _mine(ws, "campaign_sends", pseudonym)[0]
    assert send["message_id"] == message_id(CAMPAIGN, pseudonym, "mail_folder", "demo.example")
    assert send["provider_id"] is None and send["state"] == kept["campaign_sends"][0]["state"]


def test_the_audit_row_identifies_the_erasure_without_the_id(shop):
    ws, customer, _ = shop
    erasure = _erase(ws, customer)
    (row,) = ws.storage.rows(ws.table("erasures"))
    assert row["erasure_id"] == 1 and row["erased_at"] is not None
    assert row["customer_hash"] == customer_hash(ws.root, customer) == erasure.customer_hash
    assert row["customer_hash"] != hashlib.sha256(customer.encode()).hexdigest()  # salted: ids are guessable
    assert json.loads(row["rows_deleted"]) == erasure.deleted
    assert customer not in json.dumps(row, default=str).replace(row["customer_hash"], "")
    assert stat.S_IMODE((ws.root / SALT_FILE).stat().st_mode) == 0o600
    assert erased_at(ws, customer) == [row["erased_at"]]
    with pytest.raises(SchemaError, match=f"customer_id='{customer}' was erased on"):
        plan_erasure(ws, customer)


def test_segment_sizes_follow_and_a_rule_naming_the_customer_is_reported(shop):
    ws, customer, _ = shop
    run_rule_segment(ws, "just-one", f'customer_id == "{customer}"')
    segments = ws.table("segments")
    member_of = {r["segment_id"] for r in _mine(ws, "segment_members", customer)}
    sizes = {r["segment_id"]: r["size"] for r in ws.storage.rows(segments.select("segment_id", "size"))}
    erasure = _erase(ws, customer)
    after = {r["segment_id"]: r["size"] for r in ws.storage.rows(segments.select("segment_id", "size"))}
    assert after == {k: v - (k in member_of) for k, v in sizes.items()}
    # The rule's text is the user's: reported, not rewritten.
    assert erasure.mentions == {"segments.definition": 1}


def test_an_unknown_or_pseudonymous_id_is_an_error_and_nothing_is_written(shop):
    ws, _, _ = shop
    counts = ws.counts()
    messages = len(list((ws.root / "outbox").glob("*.eml")))
    for bad, message in (("no-such-customer", "is not in this workspace"), ("", "expected a customer id"),
                         (PSEUDONYM_PREFIX + "0123456789abcdef", "pseudonym of an erased customer")):
        with pytest.raises(SchemaError, match=message):
            _erase(ws, bad)
    assert ws.counts() == counts and counts["erasures"] == 0
    assert not (ws.root / SALT_FILE).exists()  # asking whether an id was erased makes no salt
    assert len(list((ws.root / "outbox").glob("*.eml"))) == messages


def test_an_interrupted_send_journal_cannot_write_the_id_back(shop):
    from micromarket.campaigns.campaign import get_campaign
    from micromarket.campaigns.send import journal_of, settle_journal

    ws, customer, email = shop
    campaign = get_campaign(ws, CAMPAIGN)
    journal = journal_of(ws, campaign)
    # A sender killed after these steps: the journal not yet folded into the ledger.
    with journal:
        journal.write(customer, "intent")
        journal.write(customer, "failed", reason=f"550 <{email}> mailbox full", provider_id="abc")
        journal.write("someone-else", "intent")
    erasure = _erase(ws, customer)
    assert erasure.journals == [journal.path]
    text = journal.path.read_text()
    assert customer not in text.replace(erasure.subject.pseudonym, "") and email not in text
    settle_journal(ws, campaign, journal, resend_in_doubt=False)  # what the next resume does first
    assert _mine(ws, "campaign_sends", customer) == []
    (send,) = _mine(ws, "campaign_sends", erasure.subject.pseudonym)
    assert send["state"] == "failed" and send["reason"] == "550 <[erased]> mailbox full" and send["provider_id"] is None


def test_an_address_another_customer_shares_stays_suppressed(shop):
    ws, customer, email = shop
    others = ws.table("customers").filter(lambda t: t.customer_id != customer)
    other = ws.storage.rows(others.limit(1))[0]["customer_id"]
    ws.storage.upsert("customers", pa.table({"customer_id": [other], "email": [email.upper()]}), key=("customer_id",))
    _erase(ws, customer)
    kept = ws.storage.rows(ws.table("suppressions").select("kind", "value"))
    assert {"kind": "email", "value": email_key(email)} in kept


# -- export -----------------------------------------------------------------------------------------
def test_the_export_holds_every_row_about_the_customer_as_json(shop, tmp_path):
    ws, customer, email = shop
    export = customer_export(ws, customer)
    assert json.loads(json.dumps(export, allow_nan=False)) == export
    tables = export["tables"]
    assert tables["customers"][0]["email"] == email and tables["customers"][0]["phone"] == PHONE
    for name in ("transactions", "campaign_members", "campaign_sends", "events", "recommendations",
                 "customer_category_shares", "offer_plan", "campaign_lists"):
        assert len(tables[name]) == len(_mine(ws, name, customer)) > 0, name
    assert {r["campaign_id"] for r in tables["campaign_members"]} == {"spring-offer", CAMPAIGN}
    dt.datetime.fromisoformat(tables["transactions"][0]["ts"])  # times as ISO text
    assert tables["customer_profile"][0]["customer_id"] == customer
    members = ws.table("segment_members").filter(lambda t: t.customer_id == customer)
    names = {r["name"] for r in ws.storage.rows(ws.table("segments").semi_join(members, "segment_id"))}
    assert {s["name"] for s in export["segments"]} == names and names
    assert {(s["kind"], s["value"]) for s in export["suppressions"]} == {
        ("customer_id", customer), ("email", email_key(email)), ("phone", PHONE)}
    assert set(export["consent"]) == {"email", "sms", "post"} and len(export["quarantine"]) == 1
    path = write_export(export, tmp_path / "out" / "customer.json")
    assert json.loads(path.read_text()) == export and stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(SchemaError, match="is not in this workspace"):
        customer_export(ws, "no-such-customer")


# -- the commands -----------------------------------------------------------------------------------
@pytest.fixture
def cli(tmp_path, source):
    """The two commands as the app registers them, and a copy of the workspace: (invoke, root, customer)."""
    from micromarket.cli.privacy import erase, export_customer

    app = typer.Typer()
    app.command("erase")(erase)
    app.command("export")(export_customer)
    root = shutil.copytree(source[0], tmp_path / "shop")
    return (lambda *args, **kw: CliRunner().invoke(app, [str(a) for a in args], **kw)), root, source[1]


def test_erase_asks_first_and_prints_what_it_erased(cli):
    invoke, root, customer = cli
    refused = invoke("erase", customer, "-w", root, input="n\n")
    assert refused.exit_code == 1 and "cannot be undone" in refused.output
    with Workspace.open(root) as ws:
        assert ws.storage.count("erasures") == 0 and _mine(ws, "customers", customer)
    done = invoke("erase", customer, "--yes", "-w", root)
    assert done.exit_code == 0, done.output
    assert "customers" in done.output and "kept under a random pseudonym" in done.output
    as_json = invoke("erase", customer, "--yes", "-w", root, "--json")
    assert as_json.exit_code == 1 and "was erased on" in str(as_json.exception)


def test_export_writes_one_json_file(cli, tmp_path):
    invoke, root, customer = cli
    out = tmp_path / "export.json"
    done = invoke("export", customer, "--output", out, "-w", root)
    assert done.exit_code == 0, done.output
    assert json.loads(out.read_text())["customer_id"] == customer


# -- Spark ------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")
def test_erasing_on_spark_reaches_the_loading_database_so_a_later_load_does_not_bring_it_back(tmp_path):
    customers = write(tmp_path / "customers.csv", "customer_id,email,country\nc1,ann@shop.example,GB\n"
                                                  "c2,bob@shop.example,GB\n")
    sales = write(tmp_path / "sales.csv", "customer,date,amount\nc1,2024-01-05,10.50\nc1,2024-02-07,oops\n"
                                          "c2,2024-03-01,8.25\n")
    members = write(tmp_path / "members.csv", "campaign_id,customer_id,treatment_group\nspring,c1,treatment\n"
                                              "spring,c2,control\n")
    later = write(tmp_path / "later.csv", "customer,date,amount\nc2,2024-04-01,5.00\n")
    mapping = {"customer_id": "customer", "ts": "date"}
    ws = Workspace.create(tmp_path / "shop", backend="spark")
    try:
        ws.ingest(customers, table="customers")
        ws.ingest(sales, mapping=mapping, on_error="quarantine")
        ws.ingest(members, table="campaign_members")
        erasure = _erase(ws, "c1")
        assert erasure.deleted == {"customers": 1, "quarantine": 1}
        assert erasure.pseudonymised == {"transactions": 1, "campaign_members": 1}
        ws.ingest(later, mapping=mapping)  # publishes the loading database's tables to the warehouse again
        for storage in (ws.storage, ws.loading):
            assert _holding(storage, "c1", ["ann@shop.example"]) == {}
            tx = storage.rows(storage.table("transactions")
                              .filter(lambda t: t.customer_id == erasure.subject.pseudonym))
            assert [r["amount"] for r in tx] == [10.5]
            assert storage.count("campaign_members") == 2 and storage.count("transactions") == 3
        assert ws.storage.count("erasures") == 1
    finally:
        ws.close()

