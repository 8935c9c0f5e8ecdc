"""The operator's metrics: what the service exposes after real traffic against the local chains
and a price server, and the alert rules and dashboard checked against that exposition."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from portfolio.main.app import create_app
from tests.api.conftest import add, serve, settings_for
from tests.chains.worlds import BIG, ONE, EvmWorld, SolanaWorld
from tests.databases import ROOT
from tests.prices.price_server import PriceServer, Quote

ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "portfolio.json"
ALERT_TESTS = ROOT / "tests" / "deploy" / "alerts_test.yml"
PROMETHEUS_OWN = {"up"}  # series Prometheus writes for each target, not the app
SUFFIXES = {"counter": ["_total", "_created"], "histogram": ["_bucket", "_sum", "_count",
            "_created"], "summary": ["_sum", "_count", "_created"], "info": ["_info"]}  # fmt: skip
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "offset", "inf", "nan"}  # fmt: skip


def exposed_names(text: str) -> set[str]:
    """Every series name the exposition can carry, samples or not yet."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, []))
        names.update(sample.name for sample in family.samples)
    return names


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are neither functions,
    keywords, label names nor durations."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expression)  # strings
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+|\{\{[^}]*\}\}", "", text)  # template variables
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", text):  # not in 1e-9
        rest = text[match.end() :].lstrip()
        if rest.startswith("(") or match.group().lower() in PROMQL_WORDS:
            continue
        names.add(match.group())
    return names


def alert_expressions() -> list[tuple[str, str]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [
        (rule["alert"], rule["expr"]) for group in document["groups"] for rule in group["rules"]
    ]


def panel_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]


def missing(expressions: Iterable[tuple[str, str]], exposed: set[str]) -> list[str]:
    return [
        f"{name}: {metric}"
        for name, expression in expressions
        for metric in sorted(metric_names(expression) - exposed)
    ]


@pytest.fixture
async def scraped(
    database_url: str, chains: dict[str, Any], evm: EvmWorld, solana: SolanaWorld
) -> str:
    """/metrics after wallets were added, fetched, refreshed and the portfolio read twice."""
    async with PriceServer() as prices:
        prices.llama = {"coingecko:ethereum": Quote(Decimal(2000)), "coingecko:solana": Quote(
            Decimal(150))}  # fmt: skip
        settings = settings_for(
            database_url, **chains, price_sources=["defillama"],
            defillama_base_url=f"{prices.url}/llama",
        )  # fmt: skip
        async with serve(create_app(settings)) as client:
            one = await add(client, "ethereum", ONE)
            await add(client, "ethereum", BIG)
            await add(client, "solana", solana.rich)
            assert (await client.post(f"/api/v1/wallets/{one}/fetch")).status_code == 200
            assert (await client.post("/api/v1/portfolio/refresh")).status_code == 200
            for _ in range(2):
                assert (await client.get("/api/v1/portfolio")).status_code == 200
            assert (await client.get(f"/api/v1/wallets/{one}/balances")).status_code == 200
            answer = await client.get("/metrics")
            assert answer.status_code == 200
            return answer.text


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def _total(text: str, name: str, **labels: str) -> float:
    return sum(
        value
        for sample_labels, value in _samples(text, name)
        if all(sample_labels.get(k) == v for k, v in labels.items())
    )


async def test_rpc_cache_price_refresh_process_and_build_metrics_follow_the_traffic(
    scraped: str,
) -> None:
    calls = _samples(scraped, "portfolio_rpc_requests_total")
    assert {labels["chain"] for labels, _ in calls} == {"ethereum", "solana"}
    assert _total(scraped, "portfolio_rpc_requests_total", chain="ethereum", method="eth_call") > 0
    assert _total(scraped, "portfolio_rpc_requests_total", chain="solana") > 0
    endpoints = {labels["endpoint"] for labels, _ in calls}
    assert all(re.fullmatch(r"http://127\.0\.0\.1:\d+#[0-9a-f]{8}", e) for e in endpoints)
    assert _total(scraped, "portfolio_rpc_request_duration_seconds_count", chain="solana") > 0
    assert _total(scraped, "portfolio_rpc_batch_calls_sum", chain="solana") >= _total(
        scraped, "portfolio_rpc_batch_calls_count", chain="solana"
    )
    assert _total(scraped, "portfolio_cache_lookups_total", kind="portfolio", result="hit") >= 1
    assert _total(scraped, "portfolio_cache_lookups_total", kind="portfolio", result="miss") >= 1
    assert _total(scraped, "portfolio_cache_lookups_total", kind="prices") > 0
    assert _total(scraped, "portfolio_price_requests_total", source="defillama") > 0
    assert _total(scraped, "portfolio_price_failures_total") == 0
    refreshed = "portfolio_refresh_wallets_total"
    assert _total(scraped, refreshed, chain="ethereum", outcome="refreshed") == 3  # fetch + 2
    assert _total(scraped, refreshed, chain="solana", outcome="refreshed") == 1
    assert _total(scraped, "portfolio_refresh_duration_seconds_count", trigger="fetch") == 1
    assert _total(scraped, "portfolio_refresh_duration_seconds_count", trigger="refresh") == 2
    breakers = {
        labels["breaker"] for labels, _ in _samples(scraped, "portfolio_circuit_breaker_state")
    }
    assert any(b.startswith("ethereum:http://127.0.0.1:") for b in breakers)
    assert 0 <= _total(scraped, "portfolio_oldest_wallet_data_age_seconds") < 60
    assert _total(scraped, "process_resident_memory_bytes") > 0
    assert _samples(scraped, "python_info")
    (build,) = _samples(scraped, "portfolio_build_info")
    assert build[0]["version"]
    assert build[1] == 1


async def test_every_metric_the_alerts_and_the_dashboard_name_is_exposed(scraped: str) -> None:
    exposed = exposed_names(scraped) | PROMETHEUS_OWN
    assert missing(alert_expressions(), exposed) == []
    assert missing(panel_expressions(), exposed) == []
    # the check itself catches a misspelt metric
    assert missing([("typo", "rate(portfolio_rpc_request_total[5m]) > 0")], exposed) == [
        "typo: portfolio_rpc_request_total"
    ]


def test_the_alert_rules_pass_promtool() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by make test (Debian package prometheus)"
    checked = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_every_alert_rule_fires_and_stays_quiet_in_its_unit_tests() -> None:
    """promtool's unit tests pass, and hold for every rule a case where it fires and one where
    it stays quiet; every rule links its runbook entry, which the README has."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by make test (Debian package prometheus)"
    tested = subprocess.run(
        [promtool, "test", "rules", str(ALERT_TESTS)], capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules = {name for name, _ in alert_expressions()}
    cases = [c for t in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
             for c in t["alert_rule_test"]]  # fmt: skip
    assert {c["alertname"] for c in cases if c["exp_alerts"]} == rules
    assert {c["alertname"] for c in cases if not c["exp_alerts"]} == rules
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.removeprefix("### ").lower()).replace(" ", "-")
        for line in (ROOT / "README.md").read_text().splitlines()
        if line.startswith("### ")
    }
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            assert url == f"README.md#{rule['alert'].lower()}"
            assert url.split("#")[1] in headings, url


def test_the_dashboards_quantiles_tell_5_ms_from_50_ms() -> None:
    """Each quantile of the API's latency on the dashboard reads a histogram with a bucket
    bound at 5 ms or below and one between 5 and 50 ms (the three buckets of the labelled
    histogram drew anything under 100 ms as 50 or 99 ms)."""
    from portfolio.api.httpmetrics import HIGHR_BUCKETS, LATENCY_BUCKETS

    buckets = {"http_request_duration_highr_seconds": HIGHR_BUCKETS,
               "http_request_duration_seconds": LATENCY_BUCKETS}  # fmt: skip
    read = [
        (title, histogram)
        for title, expression in panel_expressions()
        for histogram in re.findall(r"histogram_quantile\([^,]+, .*?\((\w+)_bucket", expression)
        if histogram in buckets
    ]
    assert len(read) >= 2  # p50 and p99
    for title, histogram in read:
        assert min(buckets[histogram]) <= 0.005, (title, histogram)
        assert any(0.005 < b < 0.05 for b in buckets[histogram]), (title, histogram)
