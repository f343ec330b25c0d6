"""Fixtures of the campaign tests (a pytest plugin the root conftest loads: a conftest.py in tests/campaigns would be imported as `conftest` before the root one is collected for doctests, and clash with it): a generated chain to copy, and a real SMTP server on localhost."""

from __future__ import annotations

import shutil
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from micromarket.demo import run_demo
from micromarket.workspace import Workspace

from helpers import free_port


@pytest.fixture(scope="session")
def chain_copy_source(tmp_path_factory):
    """A 1,500-customer generated chain after the demo (profiled, segmented, offers planned)."""
    root = tmp_path_factory.mktemp("campaign-chain") / "ws"
    run_demo(root, customers=1_500, seed=11)
    return root


@pytest.fixture
def shop(tmp_path, chain_copy_source):
    """A fresh copy of the chain (campaigns write to it), with caps and quiet hours off unless a
    test sets them, opened."""
    root = tmp_path / "shop"
    shutil.copytree(chain_copy_source, root)
    ws = Workspace.open(root)
    ws.update_config({"campaigns": {"cap_day": 0, "cap_week": 0, "quiet_hours": [],
                                    "link_base_url": "https://shop.example"}})
    yield ws
    ws.close()


@dataclass
class Inbox:
    """What the SMTP server accepted: one entry per message (envelope recipients and the parsed message)."""

    messages: list = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((tuple(envelope.rcpt_tos), parsed))
        return "250 OK"

    def by_message_id(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for rcpt, msg in list(self.messages):
            out.setdefault(msg["Message-ID"], []).append((rcpt, msg))
        return out


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1; yields (inbox, port)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()
