"""Webhooks: a tenant's receivers of events, and the rules of sending to them.

A message is sent as the Standard Webhooks specification says (``webhook-id``,
``webhook-timestamp``, ``webhook-signature: v1,<base64 HMAC-SHA256>``; body ``{"type",
"timestamp", "data"}``), so a receiver verifies it with the ``standardwebhooks`` library. A
message is tried at once, then again after each of RETRY_DELAYS (about a day in all), with the
same id every time; an endpoint that has failed for PORTFOLIO_WEBHOOK_DISABLE_AFTER_HOURS is
disabled, with the reason.

Where a webhook may send: https to public addresses only, checked when the URL is given and
again each time it is resolved to send (a name may resolve elsewhere later). With
``allow_private`` (tests, receivers inside a cluster), http and private and loopback addresses
too, but never link-local ones (169.254.0.0/16, fe80::/10: a cloud's metadata service), nor an
unspecified or multicast address."""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import urlsplit
from uuid import UUID

from portfolio.domain.errors import WebhookUrlError
from portfolio.domain.events import EventType

PING = "ping"  # the type of the message POST /webhooks/{id}/test sends
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
)
RESPONSE_KEPT = 1024  # bytes of an answer kept in a delivery's record
URL_MAX = 2048
DESCRIPTION_MAX = 200
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, no secret
LINK_LOCAL = (ip_network("169.254.0.0/16"), ip_network("fe80::/10"))

IPAddress = IPv4Address | IPv6Address


@dataclass(frozen=True, slots=True)
class Webhook:
    id: UUID
    tenant: str
    url: str
    events: tuple[EventType, ...]
    description: str | None
    created_at: datetime
    enabled: bool = True
    disabled_reason: str | None = None
    failing_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at sending a message, as GET /webhooks/{id}/deliveries lists it."""

    at: datetime
    message_id: str
    event_id: str
    status_code: int | None
    duration_ms: int
    error: str | None
    response: str | None


@dataclass(frozen=True, slots=True)
class Due:
    """A message claimed for sending, with what sending needs."""

    message_id: str
    event_id: str
    webhook_id: UUID
    url: str
    secret: str
    payload: str
    attempts: int  # tries before this one
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a try came to: ``status_code`` when the receiver answered, else ``error``."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    response: str | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def new_secret() -> str:
    """A signing secret: ``whsec_`` and 32 random bytes in base64, as the specification has it."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def new_message_id() -> str:
    return f"msg_{secrets.token_hex(16)}"


def next_try(attempts: int) -> timedelta | None:
    """The wait before the next try of a message tried ``attempts`` times; None: no more."""
    return RETRY_DELAYS[attempts - 1] if 1 <= attempts <= len(RETRY_DELAYS) else None


def check_url(url: str, *, allow_private: bool) -> str:
    """The URL if a webhook may have it (an address it names is checked now; a name is checked
    when it is resolved to send); else WebhookUrlError saying why."""
    if len(url) > URL_MAX:
        raise WebhookUrlError(f"The URL is longer than {URL_MAX} characters.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port out of range
    except ValueError as exc:
        raise WebhookUrlError(f"Not a valid URL: {exc}.") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise WebhookUrlError(f"A webhook URL must use {' or '.join(schemes)}.")
    if not host:
        raise WebhookUrlError("A webhook URL must name a host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError("A webhook URL may not carry credentials: sign with the secret.")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise WebhookUrlError("A webhook URL may not hold spaces or control characters.")
    literal = literal_address(host)
    if literal is not None:
        refused = address_refused(literal, allow_private=allow_private)
        if refused:
            raise WebhookUrlError(f"The URL's address is {refused}.")
    elif host.rstrip(".").lower() == "localhost" and not allow_private:
        raise WebhookUrlError("The URL's address is loopback.")
    return url


def literal_address(host: str) -> IPAddress | None:
    """The address a host names when it is one (an IP literal), else None."""
    try:
        return ip_address(host)
    except ValueError:
        return None


def address_refused(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why a webhook may not send to this address (None: it may)."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in net for net in LINK_LOCAL):
        return "link-local"
    if address.is_unspecified or address.is_multicast:
        return "not a host's"
    if allow_private or address.is_global:
        return None
    if address.is_loopback:
        return "loopback"
    if address.is_private:
        return "private"
    return "not public"


def message_body(kind: str, at: datetime, data: dict[str, object]) -> str:
    """A message's JSON body as the specification shapes it; signed and sent as these bytes."""
    return json.dumps(
        {"type": kind, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data},
        separators=(",", ":"),
    )
