"""100,000 e-mails through micromarket's send ledger beside a bare smtplib loop: the price of exactly-once.

Every peer sends to a local aiosmtpd server that runs in a process of its own (so it does not
share the sender's GIL) and counts what it accepts, and the Message-IDs it saw twice; a run where
the server did not get each message once fails the script.

- ``micromarket``: a ``--list`` campaign of N customers (none in the global control group, holdout
  0, caps off) on the ``email`` channel, timed from the ``run_launch_campaign`` call to its return:
  the launch (members, holdout, a queued ledger row each) and the send loop (rules, rendering the
  template, building the MIME message, the journal's three lines a message, SMTP, folding the
  journal into ``campaign_sends`` after each batch of ``[campaigns] batch``). ``launch_s`` and
  ``send_loop_s`` split the time.
  The channel sets TCP_NODELAY on its socket (since 8f1d398): ``_CommittingSMTP.data`` writes a
  message and its final ``.`` in two sends, and with Nagle's algorithm on the ``.`` waited for
  the server's delayed ACK (40 ms on Linux) once per message: 21 messages a second before.
- ``smtplib``: the same N customers' messages built beforehand by micromarket's own builder
  (``channels.email.build_email``: the headers and ``multipart/alternative`` parts it sends; 5,000
  at a time, between timed stretches: see :func:`run_smtplib`), then ``send_message`` each
  (which copies and flattens it) over one
  ``smtplib.SMTP`` connection. Building is not timed; it is given as ``prebuild_s``, and
  ``messages_per_s_with_build`` counts it in.
- ``smtplib-bytes``: the messages flattened to bytes beforehand too (``email_bytes``), then
  ``sendmail`` each: the floor of SMTP to this server from Python. Counting its building in, it is
  what micromarket's e-mail channel does for each message without the rest of the loop.

The workspace is minimal: a generated customers CSV (customer_id, email, first_name,
consent_email) and a small transactions CSV, ingested once (not timed) and copied afresh for each
micromarket run. Each peer runs ``--rounds`` times, the order reversed every round.

Usage:
    python bench/campaign_send.py [N] [--rounds R] [--peers P,...] [--add]
        (default N 100000, R 2, all three peers: about 25 minutes at 100,000 on two cores;
        ``--add`` adds the runs to those in the JSON file)
    python bench/campaign_send.py 10000 --profile   (cProfile of one micromarket run)

JSON in bench/out/campaign_send.json (bench/out/campaign_send-<N>.json for other N, or --json),
written after every run; the profile in bench/out/campaign_send-profile-<N>.{pstats,txt}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import io
import json
import os
import platform
import shutil
import smtplib
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pyarrow as pa

_HERE = Path(__file__).resolve().parent
# bench/profile.py would shadow the standard library's profile module, which cProfile imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
import cProfile  # noqa: E402
import pstats  # noqa: E402

sys.path.insert(0, str(_HERE))
from _common import machine, record  # noqa: E402

import micromarket.campaigns.send as send_module  # noqa: E402
from micromarket.campaigns.audience import in_global_control  # noqa: E402
from micromarket.campaigns.channels import Message, message_id  # noqa: E402
from micromarket.campaigns.channels.email import build_email, email_bytes, list_id  # noqa: E402
from micromarket.campaigns.links import unsubscribe_url  # noqa: E402
from micromarket.runner import run_control_group, run_create_campaign, run_launch_campaign  # noqa: E402
from micromarket.workspace import Workspace  # noqa: E402

OUT = Path(__file__).parent / "out"
#: What is compared (``--peers``).
PEERS = {
    "micromarket": "micromarket (campaign launch: journal, rules, rendering, ledger)",
    "smtplib": "smtplib send_message over one connection (messages built beforehand with build_email)",
    "smtplib-bytes": "smtplib sendmail over one connection (messages built and flattened to bytes beforehand)",
}
SENDER = "Shop <news@shop.example>"
FROM_ADDR = "news@shop.example"
LINK_BASE = "https://shop.example"
TEMPLATE = """{% block subject %}A treat for {{ customer.first_name }}{% endblock %}
{% block text %}Hello {{ customer.first_name }},

Spring is here, and so is 10 % off everything in the shop until Sunday.

Unsubscribe: {{ unsubscribe_url }}{% endblock %}
{% block html %}<p>Hello {{ customer.first_name }},</p>
<p>Spring is here, and so is <b>10 %</b> off everything in the shop until Sunday.</p>
<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>{% endblock %}
"""
NAMES = ["Ann", "Bob", "Chloé", "Dev", "Eva", "Femi", "Gus", "Hana"]

#: The SMTP sink, run as its own process: counts the messages it accepts (and repeated
#: Message-IDs), answers ``count`` on stdin, prints the final counts as JSON and exits on EOF.
SINK = r"""
import json, re, socket, sys, threading
from aiosmtpd.controller import Controller

MID = re.compile(rb"^Message-ID:\s*(\S+)", re.I | re.M)

class Counting:
    def __init__(self):
        self.messages = self.bytes = self.duplicates = 0
        self.seen = set()
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        head = envelope.content[:envelope.content.find(b"\r\n\r\n")]
        found = MID.search(head)
        mid = found.group(1) if found else None
        with self.lock:
            self.messages += 1
            self.bytes += len(envelope.content)
            if mid in self.seen:
                self.duplicates += 1
            self.seen.add(mid)
        return "250 OK"

    def counts(self):
        with self.lock:
            return {"messages": self.messages, "distinct_message_ids": len(self.seen),
                    "duplicates": self.duplicates, "bytes": self.bytes}

handler = Counting()
with socket.socket() as probe:  # a free port
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
controller = Controller(handler, hostname="127.0.0.1", port=port)
controller.start()
print("ready", port, flush=True)
for line in sys.stdin:
    if line.strip() == "count":
        print(json.dumps(handler.counts()), flush=True)
controller.stop()
print(json.dumps(handler.counts()), flush=True)
"""


class Sink:
    """The counting SMTP server in its own process (see :data:`SINK`)."""

    def __enter__(self) -> "Sink":
        self.proc = subprocess.Popen([sys.executable, "-c", SINK], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        ready = self.proc.stdout.readline().split()
        if not ready or ready[0] != "ready":
            self.proc.kill()
            raise RuntimeError("the SMTP sink did not start")
        self.port = int(ready[1])
        return self

    def stop(self) -> dict:
        """Stop the server; what it received."""
        self.proc.stdin.close()
        counts = json.loads(self.proc.stdout.read().strip().splitlines()[-1])
        self.proc.wait(timeout=60)
        return counts

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# -- the workspace -------------------------------------------------------------------------------
def customer_id(i: int) -> str:
    return f"C{i:07d}"


def email_settings(port: int) -> dict:
    return {"host": "127.0.0.1", "port": port, "from": SENDER, "tls": "none"}


def build_workspace(root: Path, n: int) -> list[str]:
    """A minimal workspace at ``root`` with enough customers for ``n`` outside the global control
    group; returns those ``n`` customer ids (sorted)."""
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    files = root.parent / f"{root.name}-files"
    files.mkdir(exist_ok=True)
    total = int(n / 0.93) + 100  # the global control group takes 5 %
    with open(files / "customers.csv", "w", encoding="utf-8") as f:
        f.write("customer_id,email,first_name,consent_email\n")
        for i in range(total):
            f.write(f"{customer_id(i)},customer{i}@example.com,{NAMES[i % len(NAMES)]},true\n")
    with open(files / "transactions.csv", "w", encoding="utf-8") as f:
        f.write("customer,date,amount\n")
        for i in range(20):
            f.write(f"{customer_id(i)},2024-0{1 + i % 9}-1{i % 10},{10 + i}.50\n")
    ws = Workspace.create(root)
    try:
        ws.ingest(files / "customers.csv", table="customers")
        ws.ingest(files / "transactions.csv")
        ws.update_config({"campaigns": {"cap_day": 0, "cap_week": 0, "quiet_hours": [], "link_base_url": LINK_BASE},
                          "channels": {"email": email_settings(25)}})
        generation = run_control_group(ws)
        customers = ws.table("customers")
        outside = customers.filter(~in_global_control(customers.customer_id, generation)).select("customer_id")
        ids = sorted(r["customer_id"] for r in ws.storage.rows(outside))
        assert len(ids) >= n, f"only {len(ids)} customers outside the global control group"
        ws.con.execute("CHECKPOINT")
    finally:
        ws.close()
    shutil.rmtree(files)
    return ids[:n]


def fresh_copy(base: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(base, target)
    return target


# -- micromarket ---------------------------------------------------------------------------------
def run_micromarket(root: Path, ids: list[str], template: Path, profile: Path | None = None) -> dict:
    """Launch and send a ``--list`` campaign of ``ids`` from the workspace at ``root``."""
    ws = Workspace.open(root)
    try:
        with Sink() as sink:
            ws.update_config({"channels": {"email": email_settings(sink.port)}})  # the section is replaced whole
            run_create_campaign(ws, "bench", audience_kind="list", audience_value="bench-list.csv",
                                customer_list=pa.table({"customer_id": pa.array(ids, pa.string())}),
                                template=str(template), channel="email", holdout=0.0)
            marks = {}
            real_loop = send_module.run_loop

            def timed_loop(run, progress, resend_in_doubt):  # when the send loop starts (the launch is done)
                marks["loop"] = time.perf_counter()
                return real_loop(run, progress, resend_in_doubt)

            send_module.run_loop = timed_loop
            profiler = cProfile.Profile() if profile else None
            try:
                start = time.perf_counter()
                if profiler:
                    profiler.enable()
                report = run_launch_campaign(ws, "bench")
                if profiler:
                    profiler.disable()
                seconds = time.perf_counter() - start
            finally:
                send_module.run_loop = real_loop
            received = sink.stop()
        states = dict(ws.con.execute("SELECT state, count(*) FROM campaign_sends WHERE campaign_id = 'bench' "
                                     "GROUP BY state").fetchall())
        batch = ws.config["campaigns"]["batch"]
    finally:
        ws.close()
    if profiler:
        profiler.dump_stats(str(profile))
    sent = report.counts.get("sent", 0)
    return {"peer": PEERS["micromarket"], "messages": sent,
            "seconds": round(seconds, 2), "messages_per_s": round(sent / seconds),
            "launch_s": round(marks["loop"] - start, 2), "send_loop_s": round(start + seconds - marks["loop"], 2),
            "batch": batch, "status": report.status, "report_counts": report.counts, "ledger_states": states,
            "received": received}


# -- bare smtplib --------------------------------------------------------------------------------
CHUNK = 5_000


def prebuild(ids: list[str]) -> list:
    """The messages micromarket would send these customers, built with its own builder
    (``build_email``: the same headers and parts, the same code), so that the peers and
    micromarket build alike and the difference is the rest of micromarket's loop."""
    names = {c: NAMES[int(c[1:]) % len(NAMES)] for c in ids}
    lid, key = list_id("bench", SENDER), b"bench-link-key"
    out = []
    for c in ids:
        name, url = names[c], unsubscribe_url(LINK_BASE, key, c, "email")
        message = Message("bench", c, "email", "A", message_id("smtplib", c, "email", "shop.example"),
                          recipient={"email": f"customer{int(c[1:])}@example.com"}, subject=f"A treat for {name}",
                          text=f"Hello {name},\n\nSpring is here, and so is 10 % off everything in the shop until "
                               f"Sunday.\n\nUnsubscribe: {url}",
                          html=f"<p>Hello {name},</p>\n<p>Spring is here, and so is <b>10 %</b> off everything in the "
                               f"shop until Sunday.</p>\n<p><a href=\"{url}\">Unsubscribe</a></p>",
                          unsubscribe_url=url)
        out.append(build_email(message, SENDER, lid))
    return out


def run_smtplib(ids: list[str], flattened: bool = False) -> dict:
    """``send_message`` of the prebuilt messages (``flattened``: ``sendmail`` of their bytes, flattened
    beforehand too) over one connection.

    The messages are built :data:`CHUNK` at a time between the timed stretches of sending (100,000
    message objects at once would take gigabytes).
    The garbage collector is off while a chunk is built and the chunk is then frozen, so that no
    collection during the timed loop walks a chunk of messages that a sender of one message at a
    time would not hold."""
    built = seconds = 0.0
    count = 0
    with Sink() as sink:
        smtp = smtplib.SMTP("127.0.0.1", sink.port, timeout=30)
        for first in range(0, len(ids), CHUNK):
            gc.disable()
            start = time.perf_counter()
            messages = prebuild(ids[first:first + CHUNK])
            if flattened:
                messages = [(m["To"], email_bytes(m)) for m in messages]
            built += time.perf_counter() - start
            gc.enable()
            gc.collect()
            gc.freeze()
            start = time.perf_counter()
            if flattened:
                for to, data in messages:
                    smtp.sendmail(FROM_ADDR, [to], data)
            else:
                for mail in messages:
                    smtp.send_message(mail, from_addr=FROM_ADDR, to_addrs=[mail["To"]])
            seconds += time.perf_counter() - start
            count += len(messages)
            del messages
            gc.unfreeze()
        smtp.quit()
        received = sink.stop()
    gc.collect()
    return {"peer": PEERS["smtplib-bytes" if flattened else "smtplib"], "messages": count,
            "seconds": round(seconds, 2), "messages_per_s": round(count / seconds),
            "prebuild_s": round(built, 2), "messages_per_s_with_build": round(count / (built + seconds)),
            "received": received}


# -- the run -------------------------------------------------------------------------------------
def versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("micromarket", "duckdb", "ibis-framework", "pyarrow", "jinja2", "aiosmtpd"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def profile_run(n: int, base: Path, ids: list[str], template: Path) -> None:
    stats_path = OUT / f"campaign_send-profile-{n}.pstats"
    row = run_micromarket(fresh_copy(base, OUT / "campaign_send-ws" / "profiled"), ids, template, profile=stats_path)
    text = io.StringIO()
    stats = pstats.Stats(str(stats_path), stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(80)
    stats.sort_stats("tottime").print_stats(40)
    (OUT / f"campaign_send-profile-{n}.txt").write_text(json.dumps(row, indent=2, default=str) + "\n" + text.getvalue())
    print(json.dumps(row, indent=2, default=str))
    print(text.getvalue())


def summary(rows: list[dict]) -> dict:
    """Each peer's best and mean rate, and smtplib's rate over micromarket's (best over best)."""
    out = {}
    for key, label in PEERS.items():
        rates = [r["messages_per_s"] for r in rows if r["peer"] == label]
        if rates:
            out[key] = {"runs": len(rates), "best_messages_per_s": max(rates),
                        "mean_messages_per_s": round(sum(rates) / len(rates))}
            built = [r["messages_per_s_with_build"] for r in rows if r["peer"] == label and "prebuild_s" in r]
            if built:
                out[key]["best_messages_per_s_with_build"] = max(built)
    for peer in ("smtplib", "smtplib-bytes"):
        for ours in ("micromarket",):
            if ours in out and peer in out:
                out[f"ratio {peer} / {ours}"] = round(out[peer]["best_messages_per_s"] / out[ours]["best_messages_per_s"], 2)
                out[f"ratio {peer} with build / {ours}"] = round(out[peer]["best_messages_per_s_with_build"]
                                                                / out[ours]["best_messages_per_s"], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="runs of each peer, the order reversed every round")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"which of {', '.join(PEERS)} (comma-separated)")
    parser.add_argument("--profile", action="store_true", help="profile one micromarket run (cProfile) instead")
    parser.add_argument("--json", help="the results' file name under bench/out (default campaign_send.json at "
                                       "N=100000, else campaign_send-N.json)")
    parser.add_argument("--add", action="store_true", help="add these runs to those already in the JSON file "
                                                           "(the same N), e.g. a long run of one peer made apart")
    args = parser.parse_args()
    n, peers = args.n, [p for p in args.peers.split(",") if p]
    unknown = set(peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers: {', '.join(sorted(unknown))}")
    OUT.mkdir(exist_ok=True)
    folder = OUT / "campaign_send-ws"
    template = folder / "spring.tmpl"
    start = time.perf_counter()
    ids = build_workspace(folder / "base", n)
    template.write_text(TEMPLATE, encoding="utf-8")
    print(f"workspace of {n:,} listed customers built in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    if args.profile:
        profile_run(n, folder / "base", ids, template)
        return
    path = OUT / (args.json or ("campaign_send.json" if n == 100_000 else f"campaign_send-{n}.json"))
    result = {"benchmark": "campaign send", "date": dt.datetime.now().isoformat(timespec="seconds"), "messages": n,
              "machine": machine(), "cpu_count": os.cpu_count(), "uname": " ".join(platform.uname()),
              "versions": versions(), "command": " ".join([Path(sys.executable).name] + sys.argv), "peers": PEERS,
              "runs": [], "summary": {}}
    if args.add and path.exists():
        before = json.loads(path.read_text())
        if before["messages"] != n:
            parser.error(f"--add: {path} has runs of {before['messages']:,} messages, not {n:,}")
        result["runs"] = before["runs"]
        result["command"] = before["command"] + " ; " + result["command"]
    rows = result["runs"]
    for r in range(args.rounds):
        order = peers if r % 2 == 0 else peers[::-1]
        for peer in order:
            if peer == "micromarket":
                row = run_micromarket(fresh_copy(folder / "base", folder / "run"), ids, template)
            else:
                row = run_smtplib(ids, flattened=peer == "smtplib-bytes")
            row["round"] = r + 1
            rows.append(row)
            print(f"round {r + 1} {peer}: {row['messages']:,} messages in {row['seconds']} s "
                  f"({row['messages_per_s']:,}/s), server received {row['received']['messages']:,}, "
                  f"{row['received']['duplicates']} twice", file=sys.stderr)
            result["summary"] = summary(rows)
            path.write_text(json.dumps(result, indent=2, default=str))  # kept as it goes: the runs are long
    record(f"campaign send, {n:,} e-mails to a local aiosmtpd server", rows + [result["summary"]])
    shutil.rmtree(folder / "run", ignore_errors=True)
    bad = [r for r in rows if r["received"]["messages"] != n or r["received"]["duplicates"]]
    if bad:
        raise SystemExit(f"the server did not receive each of the {n:,} messages once: {[r['received'] for r in bad]}")


if __name__ == "__main__":
    main()
