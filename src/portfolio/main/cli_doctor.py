"""``portfolio doctor``: what a service on these settings would find, each dependency checked
on its own (one that fails does not hide the next): the database and its schema, Redis when
configured, and every node of every chain (an EVM node must answer its chain's id; a Solana
node its health). Endpoints are shown redacted (scheme, host and port, and a hash)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import typer

from portfolio.adapters.cache.redis_client import RedisHealthCheck, create_redis
from portfolio.adapters.chains.jsonrpc import HttpJsonRpc, check_item
from portfolio.adapters.db.engine import create_engine
from portfolio.adapters.db.errors import outage_reason
from portfolio.adapters.db.health import SCHEMA_REVISION, DatabaseHealthCheck
from portfolio.adapters.redaction import redact_url
from portfolio.adapters.resilience import describe
from portfolio.config import Settings
from portfolio.domain.errors import NotReadyError

CHECK_SECONDS = 10.0  # the longest one check may take


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    said: str


async def diagnose(settings: Settings) -> list[Finding]:
    findings = [Finding(True, "settings", "read (environment and .env)")]
    findings.append(await _database(settings))
    findings.append(await _redis(settings))
    timeout = min(settings.rpc_timeout_seconds, CHECK_SECONDS)
    async with httpx.AsyncClient(timeout=timeout, trust_env=True) as client:
        for chain in settings.evm_chains():
            for url in chain.rpc_urls:
                findings.append(await _evm_node(client, chain.name, chain.chain_id, url))
        for url in settings.solana_rpc_urls:
            findings.append(await _solana_node(client, url))
    if len(findings) == 3:
        findings.append(Finding(False, "chains", "no chain has nodes: set PORTFOLIO_*_RPC_URLS"))
    return findings


def report(findings: list[Finding]) -> None:
    for finding in findings:
        typer.echo(f"{'ok  ' if finding.ok else 'FAIL'}  {finding.what:<24} {finding.said}")


async def _database(settings: Settings) -> Finding:
    what = "database"
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        await _within(DatabaseHealthCheck(engine).check)
    except NotReadyError as exc:
        return Finding(False, what, str(exc))
    except Exception as exc:
        return Finding(False, what, outage_reason(exc) or f"failed: {describe(exc)}"[:300])
    finally:
        await engine.dispose()
    return Finding(True, what, f"{redact_url(settings.database_url)}, schema at {SCHEMA_REVISION}")


async def _redis(settings: Settings) -> Finding:
    if not settings.redis_url:
        return Finding(True, "redis", "not configured: in-memory cache, one process")
    client = create_redis(settings.redis_url, timeout=settings.redis_timeout_seconds)
    try:
        await _within(RedisHealthCheck(client).check)
    except Exception as exc:
        return Finding(False, "redis", f"not answering ({describe(exc)})"[:300])
    finally:
        await client.aclose()
    return Finding(True, "redis", redact_url(settings.redis_url))


async def _evm_node(client: httpx.AsyncClient, chain: str, chain_id: int, url: str) -> Finding:
    what = f"{chain} node"
    try:
        answered = int(str(await _rpc(client, url, "eth_chainId", [])), 16)
    except Exception as exc:
        return Finding(False, what, f"{redact_url(url)}: not answering ({describe(exc)})"[:300])
    if answered != chain_id:
        return Finding(False, what, f"{redact_url(url)}: chain id {answered}, not {chain_id}")
    return Finding(True, what, f"{redact_url(url)}: chain id {answered}")


async def _solana_node(client: httpx.AsyncClient, url: str) -> Finding:
    what = "solana node"
    try:
        health = await _rpc(client, url, "getHealth", [])
    except Exception as exc:
        return Finding(False, what, f"{redact_url(url)}: not answering ({describe(exc)})"[:300])
    return Finding(health == "ok", what, f"{redact_url(url)}: {str(health)[:80]}")


async def _rpc(client: httpx.AsyncClient, url: str, method: str, params: list[Any]) -> Any:
    """One request through the service's own JSON-RPC client; an error answer raises."""
    return check_item(await HttpJsonRpc(url, client).request(method, params))


async def _within(check: Callable[[], Awaitable[None]]) -> None:
    await asyncio.wait_for(check(), CHECK_SECONDS)
