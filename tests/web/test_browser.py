"""A marketer and a viewer in a real browser (Debian's chromium, driven by Playwright): the marketer
signs in, writes a rule segment and sees its count as they type, opens a customer, builds a campaign
with a template, previews it for a customer, dry-runs and launches it to a local SMTP server that
receives the mails; a viewer sees the results but is offered no launch, and the server refuses
theirs. Screenshots of each step are kept under tests/artifacts/browser/ (ignored by git)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from micromarket.web.app import create_app

from web_fixtures import PASSWORD, copied, listening

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "browser"



@pytest.fixture
def site(tmp_path, chain_copy_source, smtp_server):
    from micromarket.workspace import Workspace

    inbox, smtp_port = smtp_server
    root = tmp_path / "ws"
    copied(chain_copy_source, root)
    with Workspace.open(root) as ws:
        ws.update_config({"channels": {"email": {"host": "127.0.0.1", "port": smtp_port,
                                                 "from": "Shop <news@shop.example>"}},
                          "campaigns": {"cap_day": 0, "cap_week": 0, "quiet_hours": []}})
    app = create_app(root, release_after=0.5, wait_seconds=30)
    with listening(app) as base:
        yield base, inbox, app


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    assert os.path.exists(CHROMIUM), "Debian's chromium is missing: make test installs it (scripts/install-system-deps.sh)"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _sign_in(page, base: str, user: str) -> None:
    page.goto(f"{base}/campaigns")
    assert "/login" in page.url  # not signed in: sent to sign in first
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/campaigns")


def test_a_marketer_builds_and_launches_a_campaign_and_a_viewer_only_sees_it(site, browser):
    base, inbox, app = site
    marketer = browser.new_page()
    _sign_in(marketer, base, "marketer")
    marketer.screenshot(path=str(SHOTS / "01-campaigns.png"))

    # A rule segment, counted as it is typed, then saved.
    marketer.goto(f"{base}/segments")
    marketer.fill("textarea[name=rule]", "frequency >= 4")
    count = marketer.locator("#count [data-count]")
    count.wait_for()
    counted = int(count.get_attribute("data-count"))
    with app.state.gate.use() as ws:
        from micromarket.segments.context import rule_members

        expected = ws.storage.rows(rule_members(ws, "frequency >= 4").distinct().aggregate(n=lambda t: t.count()))[0]["n"]
    assert counted == expected > 0
    marketer.fill("input[name=name]", "loyal-browser")
    marketer.click("text=Save segment")
    marketer.wait_for_selector("text=loyal-browser")
    marketer.screenshot(path=str(SHOTS / "02-segments.png"))

    # A customer seen whole.
    marketer.goto(f"{base}/customers")
    first = marketer.locator("#found tbody tr td a").first
    customer_id = first.inner_text()
    first.click()
    marketer.wait_for_selector(f"h1:has-text('Customer {customer_id}')")
    assert marketer.locator("text=Lifetime value").count() == 1
    marketer.screenshot(path=str(SHOTS / "03-customer.png"))

    # The builder: audience, template, holdout from the planner.
    marketer.goto(f"{base}/campaigns/new")
    marketer.fill("input[name=name]", "browser-spring")
    marketer.select_option("select[name=segment]", "loyal-browser")
    marketer.select_option("select[name=channel]", "email")
    marketer.fill("textarea[name=template]", "{% block subject %}Spring for {{ customer.customer_id }}{% endblock %}"
                                             "{% block text %}Hello {{ customer.customer_id }}{% endblock %}"
                                             "{% block html %}<p>Hello {{ customer.customer_id }}</p>{% endblock %}")
    with app.state.gate.use() as ws:  # the template previewed live, as it is written, for a customer
        someone_early = ws.storage.rows(ws.table("customers").select("customer_id").order_by("customer_id").limit(1))[0]["customer_id"]
    marketer.fill("input[name=customer_id]", someone_early)
    marketer.wait_for_selector("#preview-subject")
    assert marketer.inner_text("#preview-subject") == f"Spring for {someone_early}"
    marketer.click("button:has-text('Check the holdout')")  # the planner's holdout before anything is made
    marketer.wait_for_selector("#holdout-share")
    planned = float(marketer.get_attribute("#holdout-share", "data-share"))
    assert 0.05 <= planned < 1
    marketer.click("text=Create draft")
    marketer.wait_for_url(f"{base}/campaigns/browser-spring")
    with app.state.gate.use() as ws:
        from micromarket.campaigns.campaign import get_campaign

        assert abs(get_campaign(ws, "browser-spring").holdout_share - planned) < 1e-9  # the plan shown is the plan made

    # Preview for a customer of the audience, then the dry run.
    with app.state.gate.use() as ws:
        from micromarket.segments.store import members

        someone = ws.storage.rows(members(ws, "loyal-browser").order_by("customer_id").limit(1))[0]["customer_id"]
    marketer.fill("input[name=customer_id]", someone)
    marketer.click("button:has-text('Preview')")
    marketer.wait_for_selector("#preview-subject")
    assert marketer.inner_text("#preview-subject") == f"Spring for {someone}"
    marketer.click("button:has-text('Dry run')")
    marketer.wait_for_selector("#dry-run-table")
    will_send = int(marketer.locator("[data-decision=send]").inner_text().replace(",", ""))
    assert will_send > 0
    marketer.screenshot(path=str(SHOTS / "04-dry-run.png"))

    # Launch, confirmed by typing the name and accepting the browser's question.
    marketer.once("dialog", lambda dialog: dialog.accept())
    marketer.fill("input[name=confirm]", "browser-spring")
    marketer.click("button:has-text('Launch')")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(
            j.target == "browser-spring" and j.status != "running" for j in app.state.jobs.all()):
        marketer.wait_for_timeout(200)  # the browser keeps polling the progress meanwhile
    marketer.goto(f"{base}/campaigns/browser-spring")
    assert "done" in marketer.inner_text("#progress")
    assert int(marketer.inner_text("#count-sent").replace(",", "")) == will_send
    by_id = inbox.by_message_id()
    assert len(by_id) == will_send and all(len(v) == 1 for v in by_id.values())
    marketer.click("button:has-text('Measure now')")
    marketer.wait_for_selector("#results tbody tr")
    assert marketer.locator("h1").count() == 1  # the page came back whole, not inside itself
    marketer.screenshot(path=str(SHOTS / "05-results.png"), full_page=True)

    # A viewer sees the results, is offered no launch, and is refused one.
    viewer = browser.new_page()
    _sign_in(viewer, base, "viewer")
    viewer.goto(f"{base}/campaigns/browser-spring")
    viewer.wait_for_selector("#results tbody tr")
    assert viewer.locator("text=Launch").count() == 0 and viewer.locator("text=Measure now").count() == 0
    viewer.screenshot(path=str(SHOTS / "06-viewer.png"), full_page=True)
    csrf = viewer.evaluate("document.querySelector('input[name=csrf_token]').value")
    refused = viewer.request.post(f"{base}/campaigns/browser-spring/launch-page", headers={"X-CSRF-Token": csrf},
                                  form={"confirm": "browser-spring"})
    assert refused.status == 403
