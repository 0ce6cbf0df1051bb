"""The Dagster UI a data team opens: the real webserver, read by a real headless Chromium.

Starts `dagster-webserver` on a loopback port over the code location, opens the global asset
lineage and the warehouse load's checks tab in Debian's Chromium (driven by selenium through
chromedriver), checks that every stage, the marts and the checks render, and saves screenshots
under `$CX_TEST_ARTIFACTS` (default `tests/artifacts/`). CI (`.ci/run`) installs Chromium and
sets CX_REQUIRE_BROWSER=1: there a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1920,1080",
]
GROUPS = ["extract", "scoring", "warehouse", "dbt_staging", "dbt_intermediate", "dbt_marts"]
PYTHON_STAGES = ["raw_conversations", "conversation_scores", "warehouse_partition"]
WAREHOUSE_CHECKS = [
    "every_conversation_accounted_for",
    "scores_within_rubric_range",
    "quarantine_rate_below_threshold",
    "judge_failure_rate_below_threshold",
    "score_distribution_stable",
    "scored_conversations_meet_expectations",
]


def _artifacts() -> Path:
    path = Path(os.environ.get("CX_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _browser() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium and driver:
        return chromium, driver
    reason = (
        "Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)"
    )
    if os.environ.get("CX_REQUIRE_BROWSER") == "1":
        pytest.fail(f"CX_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`dagster-webserver` over the code location, on a free loopback port; yields its URL."""
    _browser()
    root = tmp_path_factory.mktemp("ui")
    (root / "home").mkdir()
    (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(root / "home"),
        "CX_LANDING_DIR": str(root / "landing"),
        "CX_LAKE_DIR": str(root / "lake"),
        "CX_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
    }
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (root / "webserver.log").open("w")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("dagster-webserver")),
            "-m",
            "orchestration.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the webserver starts a code server: stop the whole group
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                pytest.fail(f"dagster-webserver exited: {(root / 'webserver.log').read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer in 180 s: {(root / 'webserver.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROME_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"]:
        options.add_argument(flag)
    chrome = webdriver.Chrome(options=options, service=Service(driver))
    try:
        yield chrome
    finally:
        chrome.quit()


def _wait_for_text(browser, words: list[str], timeout: float = 90) -> str:
    """The page's text once every word is in it, as often as `words` lists it (the UI renders
    piece by piece as its GraphQL queries answer)."""
    deadline = time.monotonic() + timeout
    while True:
        text = browser.find_element("tag name", "body").text
        missing = [w for w, n in Counter(words).items() if text.count(w) < n]
        if not missing:
            return text
        if time.monotonic() > deadline:
            shot = _artifacts() / "ui-timeout.png"
            browser.save_screenshot(str(shot))
            pytest.fail(f"not rendered after {timeout} s: {missing} (screenshot {shot})")
        time.sleep(0.5)


def _dismiss_welcome(browser) -> None:
    """The first visit shows a 'Join the Dagster community' dialog; skip it like a user."""
    for button in browser.find_elements("xpath", "//button[normalize-space()='Skip']"):
        if button.is_displayed():
            button.click()


def _open(browser, url: str, words: list[str]) -> str:
    browser.get(url)
    text = _wait_for_text(browser, words)
    _dismiss_welcome(browser)
    return text


def _node_names(browser) -> set[str]:
    return {e.text for e in browser.find_elements("css selector", "[class*=AssetNode_assetName]")}


def test_asset_graph_renders_every_stage_and_the_marts(webserver: str, browser) -> None:
    # The whole flow, one box per group, in the order the data moves.
    _open(browser, f"{webserver}/asset-groups", ["Global asset lineage", *GROUPS])
    shot = _artifacts() / "ui-asset-groups.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    # The Python stages as full nodes: name, checks, partitions, kinds.
    from orchestration.partitions import daily_partitions

    partitions = f"{len(daily_partitions.get_partition_keys())} partitions"
    text = _open(
        browser,
        f"{webserver}/assets/warehouse_partition?view=lineage&lineageScope=upstream",
        [*PYTHON_STAGES, f"0 / {len(WAREHOUSE_CHECKS)} Passed", "DuckDB", "Parquet"]
        + [partitions] * len(PYTHON_STAGES),
    )
    assert set(PYTHON_STAGES) <= _node_names(browser)
    assert text.count(partitions) == len(PYTHON_STAGES), text
    shot = _artifacts() / "ui-asset-graph.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000

    # The fact and the marts built on it.
    _open(
        browser,
        f"{webserver}/assets/marts/fct_conversation_scores?view=lineage&lineageScope=downstream",
        ["fct_conversation_scores", "cx_daily"],
    )
    assert {"fct_conversation_scores", "cx_daily"} <= _node_names(browser)
    shot = _artifacts() / "ui-marts-graph.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_an_asset_shows_its_description_owner_and_partitions(webserver: str, browser) -> None:
    description = "The judge's verdict on every conversation of the day"
    _open(browser, f"{webserver}/assets/conversation_scores", [description, "data-platform"])
    shot = _artifacts() / "ui-asset-overview.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_checks_render_on_the_warehouse_load(webserver: str, browser) -> None:
    base = f"{webserver}/assets/warehouse_partition?view=checks"
    _open(browser, base, [f"Checks ({len(WAREHOUSE_CHECKS)})"])
    for name in WAREHOUSE_CHECKS:
        text = _open(browser, f"{base}&checkDetail={name}", [name, "About"])
        blocking = name in ("every_conversation_accounted_for", "scores_within_rubric_range")
        assert ("This is a non-blocking asset check." in text) is not blocking, name
    shot = _artifacts() / "ui-warehouse-checks.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    # The great-expectations check on the mart renders on the mart's own page.
    _open(
        browser,
        f"{webserver}/assets/marts/fct_conversation_scores?view=checks"
        "&checkDetail=fct_conversation_scores_meet_expectations",
        ["fct_conversation_scores_meet_expectations", "great-expectations"],
    )


def test_every_asset_has_a_description_group_owner_and_partitions() -> None:
    """What the UI shows for each asset comes from the definitions: none may be blank."""
    from orchestration.definitions import defs

    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert len(node.description or "") > 60, key
        assert node.group_name and node.owners and node.partitions_def is not None, key
    python_checks = [*WAREHOUSE_CHECKS, "fct_conversation_scores_meet_expectations"]
    described = {
        key.name: graph.get_check_spec(key).description or ""
        for key in graph.asset_check_keys
        if key.name in python_checks
    }
    assert set(described) == set(python_checks)
    assert all(len(text) > 60 for text in described.values()), described
