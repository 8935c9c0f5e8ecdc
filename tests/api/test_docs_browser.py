"""The docs pages as a person opens them, in headless Chromium (Debian's, installed by make
tools), with every request that would leave loopback blocked and recorded: Swagger UI lists
every operation and "Try it out" on the liveness probe shows 200; ReDoc renders the operations.
Screenshots are kept in test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.async_api import BrowserContext, Route, async_playwright, expect

from tests.databases import ROOT
from tests.server import Uvicorn, running_uvicorn, server_env

pytestmark = pytest.mark.slow

ARTIFACTS = ROOT / "test-artifacts"
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
# Chromium resolves no name but loopback ones: not even a request the page does not make
# (an update check) could leave the machine.
NO_NETWORK = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Uvicorn]:
    workdir: Path = tmp_path_factory.mktemp("docs")
    with running_uvicorn(server_env(workdir), workdir) as served:
        yield served


@pytest.fixture
async def browser() -> AsyncIterator[tuple[BrowserContext, list[str]]]:
    executable = shutil.which("chromium")
    assert executable, "make tools installs Debian's chromium"
    outside: list[str] = []

    async def only_loopback(route: Route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname in LOOPBACK:
            await route.continue_()
        else:
            outside.append(url)
            await route.abort()

    args = [NO_NETWORK] + (["--no-sandbox"] if os.geteuid() == 0 else [])
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=executable, args=args)
        context = await chromium.new_context(viewport={"width": 1280, "height": 1600})
        await context.route("**/*", only_loopback)
        try:
            yield context, outside
        finally:
            await context.close()
            await chromium.close()


async def test_swagger_ui_renders_offline_and_tries_a_request(
    server: Uvicorn, browser: tuple[BrowserContext, list[str]]
) -> None:
    context, outside = browser
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    await page.goto(f"{server.url}/docs")
    schema = await (await context.request.get(f"{server.url}/openapi.json")).json()
    documented = sum(len(methods) for methods in schema["paths"].values())
    await expect(page.locator(".opblock")).to_have_count(documented, timeout=20_000)
    live = page.locator("#operations-system-health-live")
    await live.locator(".opblock-summary").click()
    await live.get_by_role("button", name="Try it out").click()
    await live.get_by_role("button", name="Execute").click()
    status = live.locator(".live-responses-table tr.response .response-col_status")
    await expect(status).to_have_text("200", timeout=10_000)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "docs-swagger-ui.png", full_page=True)
    assert outside == []
    assert errors == []


async def test_redoc_renders_offline(
    server: Uvicorn, browser: tuple[BrowserContext, list[str]]
) -> None:
    context, outside = browser
    page = await context.new_page()
    await page.goto(f"{server.url}/redoc")
    schema = await (await context.request.get(f"{server.url}/openapi.json")).json()
    summaries = [op["summary"] for methods in schema["paths"].values() for op in methods.values()]
    for summary in summaries:  # every operation has its section
        heading = page.locator("h2", has_text=summary).first
        await expect(heading).to_be_attached(timeout=20_000)
    await expect(page.locator("h2", has_text="Track a wallet").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / "docs-redoc.png")
    assert outside == []
