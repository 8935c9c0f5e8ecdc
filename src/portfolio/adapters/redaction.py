"""Endpoints named without their secrets.

RPC and price URLs carry credentials in the userinfo (``https://user:pw@host``), the path
(``/v2/KEY``) or the query (``?api-key=KEY``). An endpoint is named everywhere (problem details,
stored errors, logs) as scheme, host and port plus a short stable hash of the whole URL, so two
endpoints of one host stay apart: ``https://eth.example.com:443#3f9a1c2e``. A ``Redactor`` also
scrubs free text (a library's exception message, its log lines) of every URL it knows and of the
secret parts of each, in whatever form a library prints them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

# Parts shorter than this are not taken for secrets: scrubbing "v2" or "rpc" from every log
# line would mangle them, and keys are long.
MIN_SECRET_LENGTH = 6
HIDDEN = "***"
# Credentials the service hands out, whatever line prints them (a server's access line names a
# stream's URL with its ``?token=``): stream tokens and webhook signing secrets.
ISSUED = re.compile(r"\b(pst|whsec)_[A-Za-z0-9_\-+/=%]+")


def redact_url(url: str) -> str:
    """``scheme://host:port#hash``: what may be shown of an endpoint."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"endpoint#{digest}"
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme)
    return f"{parts.scheme}://{host}:{port or default}#{digest}"


def secret_parts(url: str) -> list[str]:
    """The pieces of ``url`` that may be credentials, as they appear and percent-decoded."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    pieces: list[str] = []
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        pieces += [userinfo, parts.password or "", parts.username or ""]
    if parts.path.strip("/"):
        pieces.append(parts.path)
        pieces += parts.path.split("/")
    if parts.query:
        pieces.append(parts.query)
        pieces += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    if parts.fragment:
        pieces.append(parts.fragment)
    found = {p for piece in pieces for p in (piece, unquote(piece))}
    return sorted(p for p in found if len(p) >= MIN_SECRET_LENGTH)


class Redactor:
    """Replaces known URLs by their redacted names and their secret parts by ``***``."""

    def __init__(self, urls: Iterable[str] = (), secrets: Iterable[str] = ()) -> None:
        self._names: dict[str, str] = {}
        hidden: set[str] = {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}
        for url in urls:
            name = redact_url(url)
            self._names[url] = name
            self._names[url.rstrip("/")] = name
            hidden.update(secret_parts(url))
        # A name already redacted stays as it is (it starts with its URL when the URL has no
        # path): the longest match wins, and a name is longer than its URL.
        named = {name: name for name in self._names.values()}
        replacements = {**dict.fromkeys(hidden, HIDDEN), **self._names, **named}
        self._replacements = replacements
        ordered = sorted(replacements, key=len, reverse=True)  # longest first
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None

    def name(self, url: str) -> str:
        return self._names.get(url) or redact_url(url)

    def __call__(self, text: str) -> str:
        if "pst_" in text or "whsec_" in text:
            text = ISSUED.sub(r"\1_" + HIDDEN, text)
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self._replacements[m.group()], text)
