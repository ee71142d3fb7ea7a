"""Issue 16, the dashboard's acceptance: the live localnet in a real headless Chromium.

A 4-validator localnet with an L2 and short downtime parameters; `seqset
dashboard` runs as a subprocess against node 0; Debian's chromium, driven by
Playwright, reads the page. With JavaScript off the first paint lists the 4
sequencers; with it on the page refreshes itself (the height changes), and
after one validator stops, its sequencer turns "jailed" on the page without a
reload, all with no console error. The screenshot goes to $SEQSET_ARTIFACTS
(default <repo>/.artifacts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from abci_app.chain.state import JAILED
from abci_app.devnet.localnet import PROJECT_ROOT, stop_process, wait_until
from abci_app.devnet.localnet_l2 import L2Localnet, L2Settings
from abci_app.devnet.ports import free_port
from abci_app.node.home import read_validator_pubkey

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
SEQSET = Path(sys.executable).with_name("seqset")
# Jailed for downtime once more than half of a 10-block window is missed: a few seconds.
DOWNTIME_PARAMS = {"signed_blocks_window": 10, "min_signed_bps": 5_000,
                   "downtime_slash_bps": 100, "downtime_jail_s": 600}
STOPPED = 3  # the validator stopped to get a jailed sequencer; 3 of 4 keep > 2/3
REFRESH_MS = 1000
PAGE_TIMEOUT_MS = 20_000


def get_artifacts_dir() -> Path:
    path = Path(os.environ.get("SEQSET_ARTIFACTS") or PROJECT_ROOT / ".artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, cometbft_binary: str) -> Iterator[L2Localnet]:
    network = L2Localnet(tmp_path_factory.mktemp("dashboard"), 4, block_time_ms=500,
                         l2=L2Settings(block_interval_ms=500, epoch_length=10),
                         cometbft=cometbft_binary, params=DOWNTIME_PARAMS)
    with network.running(height=2):
        yield network


def is_serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except OSError:
        return False


@contextmanager
def serving_dashboard(home: Path, *args: str) -> Iterator[str]:
    """`seqset dashboard --home home *args` on a free port; its URL while it runs."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = home / "logs" / f"dashboard-{port}.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [str(SEQSET), "dashboard", "--home", str(home), "--listen", f"127.0.0.1:{port}",
             "--refresh-ms", str(REFRESH_MS), *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    try:
        wait_until(f"the dashboard to serve {url} (see {log_path})",
                   lambda: proc.poll() is not None or is_serving(url), 30)
        assert proc.poll() is None, f"seqset dashboard exited with {proc.returncode}: {log_path}"
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def dashboard_url(net: L2Localnet) -> Iterator[str]:
    with serving_dashboard(net.nodes[0].home) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)
        yield chromium
        chromium.close()


def collect_console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    return errors


def get_sequencer_id_of(net: L2Localnet, index: int) -> int:
    pubkey = read_validator_pubkey(net.nodes[index].home)
    sequencers = net.query("/sequencers").sequencers
    return next(int(s.id) for s in sequencers if bytes(s.consensus_pubkey) == pubkey)


def is_jailed_on_chain(net: L2Localnet, sequencer_id: int) -> bool:
    seq: Any = net.query(f"/sequencer/{sequencer_id}").sequencer
    return bool(seq.status == JAILED)


def test_first_paint_lists_the_four_sequencers_with_javascript_off(
    browser: Browser, dashboard_url: str,
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(dashboard_url)
        rows = page.locator("#sequencers-table tbody tr")
        assert rows.count() == 4, page.content()[:2000]
        assert sorted(rows.nth(i).get_attribute("data-sequencer-id") or "" for i in range(4)) \
            == ["1", "2", "3", "4"]
        assert page.locator("#banner").is_hidden()
        assert page.locator("#section-relay table tbody tr").count() == 4
    finally:
        context.close()


def test_unreachable_node_shows_a_banner_with_and_without_javascript(
    net: L2Localnet, browser: Browser,
) -> None:
    dead_node = f"http://127.0.0.1:{free_port()}"
    with serving_dashboard(net.nodes[0].home, "--node", dead_node) as url:
        for javascript in (False, True):
            context = browser.new_context(java_script_enabled=javascript)
            try:
                page = context.new_page()
                errors = collect_console_errors(page)
                page.goto(url)
                banner = page.locator("#banner")
                expect(banner).to_be_visible()
                expect(banner).to_contain_text(f"The node at {dead_node} is unreachable")
                if javascript:  # a refresh keeps the banner up, says when, and logs nothing
                    expect(banner).to_contain_text("(checked ", timeout=PAGE_TIMEOUT_MS)
                    expect(banner).to_be_visible()
                assert errors == [], errors
            finally:
                context.close()


def test_page_refreshes_and_shows_a_stopped_validator_jailed_with_no_console_error(
    net: L2Localnet, browser: Browser, dashboard_url: str,
) -> None:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    try:
        page = context.new_page()
        errors = collect_console_errors(page)
        page.goto(dashboard_url)
        first_height = page.locator("#height").inner_text()
        # The refresh: the height changes without a reload (expect polls in Playwright's own
        # world, which the page's Content-Security-Policy does not govern)
        expect(page.locator("#height")).not_to_have_text(first_height, timeout=PAGE_TIMEOUT_MS)
        expect(page.locator("#updated")).to_contain_text("last updated")

        jailed_id = get_sequencer_id_of(net, STOPPED)
        net.stop_validator(STOPPED)
        wait_until(f"sequencer {jailed_id} to be jailed for downtime",
                   lambda: is_jailed_on_chain(net, jailed_id), 90, interval_s=0.5)
        status = page.locator(f'#sequencers-table tr[data-sequencer-id="{jailed_id}"] td.status')
        expect(status).to_have_text("jailed", timeout=PAGE_TIMEOUT_MS)
        assert page.locator("#sequencers-table tbody tr").count() == 4
        page.screenshot(path=str(get_artifacts_dir() / "dashboard.png"), full_page=True)
        assert page.locator("#banner").is_hidden(), page.locator("#banner").inner_text()
        assert errors == [], errors
    finally:
        context.close()
