"""Browser tests of the console: Playwright (the Python package) driving Debian's chromium
(/usr/bin/chromium, or PROVISIOND_CHROMIUM) against a live server with its scheduler and a real
SCIM app. Without a browser the tests skip, saying why, except on CI (CI=true), where they fail.
Every page a test visits is saved as a screenshot under PROVISIOND_SCREENSHOTS (default
test-screenshots/ at the repository root), so a person can look at them."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.api.console.console_helpers import link_for
from tests.conftest import LiveServer
from tests.engine.helpers import Provisioned, sqlite_engine_server

from provisiond.config import Settings
from provisiond.engine.preview import classify
from provisiond.store.tables import provisioning_logs

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = os.environ.get("PROVISIOND_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests cannot run on CI: {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture
def browser() -> Iterator[Any]:
    """A browser per test: Playwright's sync API runs an event loop on this thread while it is
    started, and an asyncio test that this worker runs next must not find it still running."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        _unavailable(f"no chromium at {CHROMIUM} (apt-get install -y chromium, or set PROVISIOND_CHROMIUM)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    folder = Path(os.environ.get("PROVISIOND_SCREENSHOTS") or ROOT / "test-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def shot(page: Any, screenshots: Path) -> Any:
    """`shot("job-active")` saves the page as console-job-active.png."""

    def save(name: str) -> Path:
        path = screenshots / f"console-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture
def server(sqlite_url: str, settings: Settings) -> Iterator[LiveServer]:
    """The API and its scheduler on SQLite (as `provisiond serve`)."""
    with sqlite_engine_server(sqlite_url, settings) as live:
        yield live


def sign_in(page: Any, server: LiveServer, claims: dict[str, Any] | None = None) -> None:
    """Open a one-time console link and land on the applications page."""
    page.goto(link_for(server, claims))
    page.wait_for_url(f"{server.url}/console")


def shown_counts(page: Any) -> dict[tuple[str, str], int]:
    """The preview's counts as the page shows them: (object type, action) -> a number above 0,
    out-of-scope objects left out (a cycle logs nothing for those, so they cannot be compared)."""
    counts = {}
    for row in page.locator("#preview-counts tbody tr").all():
        kind = row.locator("th").inner_text().strip()
        for cell in row.locator("td[data-action]").all():
            if int(cell.inner_text()) and cell.get_attribute("data-action") != "outOfScope":
                counts[(kind, str(cell.get_attribute("data-action")))] = int(cell.inner_text())
    return counts


def cycles(setup: Provisioned) -> set[str]:
    return {r["cycle_id"] for r in setup.rows(provisioning_logs)}


def cycle_counts(setup: Provisioned, before: set[str]) -> dict[tuple[str, str], int]:
    """What the one cycle since `before` did, in the preview's words (as `shown_counts`)."""
    (cycle,) = cycles(setup) - before
    entries = [r for r in setup.rows(provisioning_logs) if r["cycle_id"] == cycle]
    tally = Counter((e["source_type"], classify(e)) for e in entries)
    return {key: n for key, n in tally.items() if key[1] != "outOfScope"}
