"""Sending a webhook message over HTTP, to an address checked when it is resolved.

The host is resolved here, every address it resolves to is checked (domain/webhooks.py), and
the request goes to the address checked, not to a second resolution that could answer
otherwise (a name that resolves to a public address when checked and to 127.0.0.1 when
connecting). For https the original name is still the TLS server name (SNI and certificate
check). Redirects are never followed: a 3xx is a failed try. At most RESPONSE_KEPT bytes of an
answer are read, undecoded (a compressed answer cannot grow in memory)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from ipaddress import IPv6Address, ip_address
from urllib.parse import urlsplit, urlunsplit

import httpx

from portfolio import __version__
from portfolio.adapters.resilience import describe
from portfolio.domain.webhooks import (
    RESPONSE_KEPT,
    IPAddress,
    Outcome,
    address_refused,
    literal_address,
)

TIMEOUT_SECONDS = 10.0


class RefusedTargetError(Exception):
    """The URL resolves to an address a webhook may not send to."""


class HttpWebhookSender:
    def __init__(self, *, allow_private: bool, timeout_seconds: float = TIMEOUT_SECONDS) -> None:
        self._allow_private = allow_private
        self._timeout = timeout_seconds
        # No proxies from the environment: the address checked is the one connected to.
        self._client = httpx.AsyncClient(
            follow_redirects=False, timeout=timeout_seconds, trust_env=False
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, headers: Mapping[str, str], body: bytes) -> Outcome:
        started = time.monotonic()

        def took() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            async with asyncio.timeout(self._timeout):
                target, host, server_name = await self._pinned(url)
                sent = {**headers, "host": host, "content-type": "application/json",
                        "user-agent": f"portfolio-webhooks/{__version__}"}  # fmt: skip
                extensions = {"sni_hostname": server_name} if server_name else {}
                async with self._client.stream(
                    "POST", target, headers=sent, content=body, extensions=extensions
                ) as answer:
                    kept = bytearray()
                    async for chunk in answer.aiter_raw():
                        kept += chunk
                        if len(kept) >= RESPONSE_KEPT:
                            break
            text = bytes(kept[:RESPONSE_KEPT]).decode("utf-8", "replace")
            return Outcome(answer.status_code, took(), None, text)
        except RefusedTargetError as exc:
            return Outcome(None, took(), f"refused: {exc}")
        except TimeoutError:
            return Outcome(None, took(), f"timed out after {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, took(), describe(exc))
        except OSError as exc:
            return Outcome(None, took(), describe(exc))

    async def _pinned(self, url: str) -> tuple[str, str, str | None]:
        """The URL with its host replaced by an address checked now; the Host header; the TLS
        server name (https)."""
        parts = urlsplit(url)
        name = parts.hostname or ""
        https = parts.scheme == "https"
        if parts.scheme not in ("https", "http") or (not https and not self._allow_private):
            raise RefusedTargetError(f"the scheme {parts.scheme!r} is not allowed")
        port = parts.port or (443 if https else 80)
        address = await self._resolve(name, port)
        netloc = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
        target = urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))
        host = parts.netloc.rsplit("@", 1)[-1]
        literal = literal_address(name)
        return target, host, name if https and literal is None else None

    async def _resolve(self, name: str, port: int) -> IPAddress:
        """The first address of the name, once every address it resolves to is allowed."""
        literal = literal_address(name)
        if literal is not None:
            found = [literal]
        else:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    name, port, type=socket.SOCK_STREAM
                )
            except socket.gaierror as exc:
                raise RefusedTargetError(f"the host does not resolve ({exc.strerror})") from None
            found = [ip_address(info[4][0]) for info in infos]
        if not found:
            raise RefusedTargetError("the host does not resolve")
        for address in found:
            refused = address_refused(address, allow_private=self._allow_private)
            if refused:
                raise RefusedTargetError(f"the host resolves to a {refused} address")
        return found[0]
