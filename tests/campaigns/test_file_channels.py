"""Direct-mail and export files: their columns, read back with csv and pyarrow, and crash safety
(a killed run leaves no output that looks complete; a resumed run writes no row twice)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from micromarket.campaigns.channels import CHANNELS, Message, message_id
from micromarket.campaigns.channels.files import (
    DirectMailChannel,
    ExportChannel,
    Journal,
    OutputBusyError,
    OutputExistsError,
)
from micromarket.exceptions import ConfigError, MicromarketError

HERE = Path(__file__).parent

RECIPIENTS = {
    "C1": {"email": "ann@example.com", "phone": "+447400123456", "first_name": "Ann", "last_name": "Lee",
           "address_line1": "1 High Street", "city": "Leeds", "postcode": "LS1 1AA", "country": "GB"},
    "C2": {"first_name": "=HYPERLINK(\"http://evil\")", "last_name": "Bo", "postcode": "M1 1AE",
           "country": "GB", "address_line2": "Flat 2", "consent_post": True},
    "C3": {"first_name": "Cy", "last_name": "Dee", "postcode": None, "country": "GB"},
}
FIELDS = {
    "C1": {"offer": "10% off cheese", "discount": 0.1, "segment": "champions", "city": "fields-city"},
    "C2": {"offer": "free delivery", "discount": 0.0, "segment": "at risk", "expires": dt.date(2027, 1, 31)},
    "C3": {"offer": "none"},
}


def message(customer_id: str, channel: str, campaign: str = "spring") -> Message:
    return Message(campaign=campaign, customer_id=customer_id, channel=channel, variant="A",
                   message_id=message_id(campaign, customer_id, channel), recipient=RECIPIENTS[customer_id],
                   subject=f"Hello {customer_id}", text=f"Dear customer {customer_id}", fields=FIELDS[customer_id])


def deliver(channel, customer_ids, campaign="spring"):
    return {cid: channel.send(message(cid, channel.name, campaign), lambda: None) for cid in customer_ids}


def read(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_channels_are_registered_with_their_consent():
    assert CHANNELS["direct_mail"] is DirectMailChannel and CHANNELS["export"] is ExportChannel
    assert DirectMailChannel.consent == "consent_post" and DirectMailChannel.address == "postcode"
    assert ExportChannel.consent is None
    assert DirectMailChannel.resend_in_doubt and ExportChannel.resend_in_doubt


def test_direct_mail_file_for_the_print_house(tmp_path):
    path = tmp_path / "post.csv"
    with DirectMailChannel({"path": str(path)}) as channel:
        deliveries = deliver(channel, ["C1", "C2", "C3"])
    assert deliveries["C3"].status == "failed" and "postcode" in deliveries["C3"].error
    assert deliveries["C1"].status == deliveries["C2"].status == "sent"
    assert deliveries["C1"].provider_id == str(path)
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header == ["customer_id", "first_name", "last_name", "address_line1", "city", "address_line2",
                      "postcode", "country", "offer", "discount", "segment", "field_city", "expires", "text"]
    rows = read(path)
    assert rows[0] == {"customer_id": "C1", "first_name": "Ann", "last_name": "Lee", "address_line1": "1 High Street",
                       "city": "Leeds", "address_line2": "", "postcode": "LS1 1AA", "country": "GB",
                       "offer": "10% off cheese", "discount": "0.1", "segment": "champions",
                       "field_city": "fields-city", "expires": "", "text": "Dear customer C1"}
    # A name that a spreadsheet would run as a formula is shown as text instead.
    assert rows[1]["first_name"] == "'=HYPERLINK(\"http://evil\")"
    assert rows[1]["expires"] == "2027-01-31" and rows[1]["address_line2"] == "Flat 2"
    data = path.read_bytes()
    assert b"ann@example.com" not in data and b"7400123456" not in data and b"consent" not in data


def test_export_csv_has_ids_recipient_fields_and_text(tmp_path):
    path = tmp_path / "all.csv"
    with ExportChannel({"path": str(path)}) as channel:
        deliver(channel, ["C1", "C2", "C3"])
    rows = read(path)
    assert list(rows[0])[:4] == ["campaign", "customer_id", "variant", "message_id"]
    assert [r["customer_id"] for r in rows] == ["C1", "C2", "C3"]
    assert rows[0]["message_id"] == message_id("spring", "C1", "export")
    assert rows[0]["email"] == "ann@example.com" and rows[0]["phone"] == "+447400123456"  # no escaping by default
    assert rows[0]["city"] == "Leeds" and rows[0]["field_city"] == "fields-city"
    assert rows[2]["subject"] == "Hello C3" and rows[2]["text"] == "Dear customer C3"


def test_export_parquet_keeps_types(tmp_path):
    path = tmp_path / "all.parquet"
    with ExportChannel({"path": str(path)}) as channel:
        assert channel.format == "parquet"
        deliver(channel, ["C1", "C2", "C3"])
    table = pq.read_table(path)
    assert table.num_rows == 3
    assert str(table.schema.field("discount").type) == "double"
    assert str(table.schema.field("consent_post").type) == "bool"
    assert table.column("expires").to_pylist() == [None, "2027-01-31", None]
    assert table.column("postcode").to_pylist() == ["LS1 1AA", "M1 1AE", None]
    assert table.column("customer_id").to_pylist() == ["C1", "C2", "C3"]


def test_export_parquet_writes_mixed_kinds_as_text(tmp_path):
    path = tmp_path / "mixed.parquet"
    with ExportChannel({"path": str(path)}) as channel:
        for cid, value in (("C1", 5), ("C2", "five"), ("C3", Decimal("5.5"))):
            msg = message(cid, "export")
            channel.send(Message(**{**msg.__dict__, "fields": {"n": value}}), lambda: None)
    assert pq.read_table(path).column("n").to_pylist() == ["5", "five", "5.5"]


def test_export_format_is_checked():
    with pytest.raises(ConfigError, match="format"):
        ExportChannel({"path": "x.csv", "format": "xlsx"})
    assert ExportChannel({"path": "x.pq"}).format == "parquet"
    assert ExportChannel({"path": "x.txt", "format": "csv"}).format == "csv"


@pytest.mark.parametrize("settings_, match", [({}, "path is required"), ({"path": "x.csv", "colour": 1}, "colour"),
                                              ({"path": "x.csv", "escape_formulas": "no"}, "escape_formulas")])
def test_direct_mail_settings_are_checked(settings_, match):
    with pytest.raises(ConfigError, match=match):
        DirectMailChannel(settings_)


def test_the_send_loops_settings_are_accepted():
    channel = DirectMailChannel({"path": "x.csv", "rate": 5.0, "cap_day": 1, "cap_week": 3})
    assert channel.settings["rate"] == 5.0


def test_committing_is_marked_before_the_row_is_written(tmp_path):
    msg = message("C1", "export")
    channel = ExportChannel({"path": str(tmp_path / "e.csv")})
    written_at_mark = []

    def committing():
        written_at_mark.extend(msg.message_id in journal for journal in channel.journals.values())

    assert channel.send(msg, committing).status == "sent"
    assert written_at_mark == [False]
    channel.close()


def test_one_file_per_campaign(tmp_path):
    with ExportChannel({"path": str(tmp_path / "{campaign}.csv")}) as channel:
        deliver(channel, ["C1"], campaign="spring sale/2027")
        deliver(channel, ["C2"], campaign="autumn")
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["autumn.csv", "spring_sale_2027.csv"]


# --- crash safety --------------------------------------------------------------------------

def crash_after(channel_class: str, settings_: dict, customers: list[str]) -> subprocess.CompletedProcess:
    """Run a channel in another process and kill it (``os._exit``) after sending, without close."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(HERE)!r})
        from test_file_channels import deliver
        from micromarket.campaigns.channels.files import {channel_class}
        channel = {channel_class}({settings_!r})
        channel.open()
        deliver(channel, {customers!r})
        os._exit(9)
    """)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


@pytest.mark.parametrize("channel_class, name", [("DirectMailChannel", "post.csv"), ("ExportChannel", "all.parquet")])
def test_a_killed_run_leaves_no_output_and_resumes_without_duplicates(tmp_path, channel_class, name):
    path = tmp_path / name
    result = crash_after(channel_class, {"path": str(path)}, ["C1", "C2"])
    assert result.returncode == 9, result.stderr
    assert not path.exists(), "a killed run must not leave an output that looks complete"
    assert not list(tmp_path.glob(".*.tmp"))

    cls = DirectMailChannel if channel_class == "DirectMailChannel" else ExportChannel
    with cls({"path": str(path)}) as channel:
        deliveries = deliver(channel, ["C2", "C1", "C3"])  # C1 and C2 in doubt: sent again
    assert deliveries["C1"].status == deliveries["C2"].status == "sent"
    ids = _customer_ids(path)
    expected = ["C1", "C2"] if cls is DirectMailChannel else ["C1", "C2", "C3"]
    assert ids == expected


def _customer_ids(path: Path) -> list[str]:
    if path.suffix == ".parquet":
        return pq.read_table(path).column("customer_id").to_pylist()
    return [row["customer_id"] for row in read(path)]


def test_a_line_torn_by_a_crash_is_cut_off(tmp_path):
    path = tmp_path / "e.csv"
    assert crash_after("ExportChannel", {"path": str(path)}, ["C1"]).returncode == 9
    journal = path.with_name("e.csv.journal")
    with open(journal, "ab") as handle:
        handle.write(b'{"id": "<half-written')  # the crash came mid-write of the next row
    with ExportChannel({"path": str(path)}) as channel:
        deliver(channel, ["C2"])
    assert [row["customer_id"] for row in read(path)] == ["C1", "C2"]
    assert all(json.loads(line) for line in journal.read_bytes().splitlines())


def test_a_damaged_journal_is_refused(tmp_path):
    path = tmp_path / "e.csv"
    path.with_name("e.csv.journal").write_bytes(b"not json\n")
    channel = ExportChannel({"path": str(path)})
    with pytest.raises(MicromarketError, match="damaged"):
        deliver(channel, ["C1"])


def test_an_error_inside_the_run_publishes_nothing(tmp_path):
    path = tmp_path / "post.csv"
    with pytest.raises(RuntimeError):
        with DirectMailChannel({"path": str(path)}) as channel:
            deliver(channel, ["C1"])
            raise RuntimeError("the send loop failed")
    assert not path.exists() and path.with_name("post.csv.journal").exists()
    with DirectMailChannel({"path": str(path)}) as channel:
        deliver(channel, ["C1", "C2"])
    assert [row["customer_id"] for row in read(path)] == ["C1", "C2"]


def test_a_closed_output_gets_later_rows_added(tmp_path):
    path = tmp_path / "e.csv"
    with ExportChannel({"path": str(path)}) as channel:
        deliver(channel, ["C1"])
    assert [row["customer_id"] for row in read(path)] == ["C1"]
    with ExportChannel({"path": str(path)}) as channel:
        deliver(channel, ["C1", "C2"])
    assert [row["customer_id"] for row in read(path)] == ["C1", "C2"]


def test_a_file_not_written_by_the_channel_is_never_replaced(tmp_path):
    path = tmp_path / "e.csv"
    path.write_text("someone else's data\n")
    with pytest.raises(OutputExistsError, match="no journal"):
        ExportChannel({"path": str(path)}).open()  # refused before the first message
    with pytest.raises(OutputExistsError, match="no journal"):
        deliver(ExportChannel({"path": str(tmp_path / "{campaign}.csv")}), ["C1"], campaign="e")
    assert path.read_text() == "someone else's data\n"


def test_two_writers_of_one_output_are_refused(tmp_path):
    first = Journal(tmp_path / "e.csv")
    first.open()
    try:
        with pytest.raises(OutputBusyError):
            Journal(tmp_path / "e.csv").open()
    finally:
        first.close()


def test_journal_without_fsync_still_survives_the_process(tmp_path):
    path = tmp_path / "e.csv"
    assert crash_after("ExportChannel", {"path": str(path), "fsync": False}, ["C1", "C2"]).returncode == 9
    journal = Journal(path)
    journal.open()
    assert len(journal) == 2 and message_id("spring", "C2", "export") in journal
    journal.close()


def test_a_failed_write_leaves_no_half_line(tmp_path, monkeypatch):
    path = tmp_path / "e.csv"
    channel = ExportChannel({"path": str(path)})
    channel.open()
    deliver(channel, ["C1"])
    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("micromarket.campaigns.channels.files.os.fsync", disk_full)
    with pytest.raises(OSError):
        deliver(channel, ["C2"])
    monkeypatch.setattr("micromarket.campaigns.channels.files.os.fsync", real_fsync)
    deliver(channel, ["C3"])
    channel.close()
    assert [row["customer_id"] for row in read(path)] == ["C1", "C3"]
