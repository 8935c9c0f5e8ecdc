"""Times in query parameters: RFC 3339 only, with a zone, answered in UTC.

pydantic's datetime also takes bare numbers (``0`` as 1970, ``99999999999`` as milliseconds)
and times without a zone; neither is a time a client meant. A time whose UTC form falls outside
the years 1..9999 is a 422, not an overflow deeper in."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import PlainValidator, WithJsonSchema

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)
EXAMPLE = "2026-01-31T12:00:00Z"


def parse_rfc3339(value: object) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC)
    match = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"Not an RFC 3339 time with a zone, such as {EXAMPLE}.")
    moment, fraction, zone = match.groups()
    # Python keeps microseconds: finer fractions (nanoseconds, say) are cut, not refused.
    text = f"{moment}.{fraction[:6]}{zone}" if fraction else f"{moment}{zone}"
    try:
        return datetime.fromisoformat(text.upper()).astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"Not a valid time: {exc}.") from exc
    except OverflowError as exc:
        raise ValueError("A time outside the years 1 to 9999 (UTC).") from exc


Rfc3339 = Annotated[
    datetime,
    PlainValidator(parse_rfc3339),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": [EXAMPLE]}),
]
