"""Database failures become domain errors at this boundary.

"The database is not answering" has many faces: a refused or reset connection, a pool that
cannot hand out a connection in time, a server shutting down or starting up (asyncpg's
``CannotConnectNowError``, SQLSTATE 57P03), a statement cancelled by the statement timeout.
Each is a StorageUnavailableError (a 503 with Retry-After), never a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from portfolio.domain.errors import RecordRejectedError, StorageUnavailableError

_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError, OSError, TimeoutError)
# SQLSTATE classes: 08 connection exception, 53 insufficient resources (too many
# connections, out of memory or disk), 57 operator intervention (admin shutdown, crash
# shutdown, cannot connect now, query cancelled by the statement timeout).
_UNAVAILABLE_SQLSTATE_CLASSES = ("08", "53", "57")
UNDEFINED_TABLE = "42P01"  # a database not migrated yet: not ready, rather than a bug
NO_SUCH_TABLE = "no such table"  # SQLite's word for the same
# 22 data exception (a value too long, out of range), 23 integrity constraint violation.
_REFUSED_SQLSTATE_CLASSES = ("22", "23")


@asynccontextmanager
async def storage_errors() -> AsyncIterator[None]:
    """Turn 'the database did not answer' into StorageUnavailableError; let the rest through."""
    try:
        yield
    except Exception as exc:
        reason = outage_reason(exc)
        if reason is not None:
            raise StorageUnavailableError(reason) from exc
        raise


@asynccontextmanager
async def rejected_records() -> AsyncIterator[None]:
    """storage_errors, and a statement the database answered with a refusal (a value too
    long, a constraint) becomes RecordRejectedError, named by its kind only (a row's values may
    be anyone's)."""
    try:
        async with storage_errors():
            yield
    except DBAPIError as exc:  # not an outage: storage_errors turned those already
        kind = type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__
        raise RecordRejectedError(f"The database refused to store the balances ({kind}).") from exc
    except Exception as exc:
        # The driver's own error, from a call made past SQLAlchemy (asyncpg's COPY): a
        # refusal when it carries an SQLSTATE of a data exception or a violated constraint.
        sqlstate = getattr(exc, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _REFUSED_SQLSTATE_CLASSES:
            kind = type(exc).__name__
            raise RecordRejectedError(
                f"The database refused to store the balances ({kind})."
            ) from exc
        raise


def outage_reason(exc: BaseException) -> str | None:
    """What to tell of a database that cannot serve now (``exc`` or an error it wraps says
    so), or None: not migrated (a table missing) is told apart from not answering."""
    if not unavailable(exc):
        return None
    if any(
        getattr(e, "sqlstate", None) == UNDEFINED_TABLE or str(e).startswith(NO_SUCH_TABLE)
        for e in wrapped_errors(exc)
    ):
        return "The database has no schema yet: run the migrations (portfolio migrate)."
    return "The database is not answering."


def wrapped_errors(exc: BaseException) -> list[BaseException]:
    """``exc`` and the errors it wraps (its driver's error, its cause), each once."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not e for e in seen):
        seen.append(current)
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return seen


def unavailable(exc: BaseException) -> bool:
    """Whether ``exc``, or an error it wraps, says the database cannot be reached now."""
    for current in wrapped_errors(exc):
        if isinstance(current, _UNAVAILABLE):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        sqlstate = getattr(current, "sqlstate", None)
        if isinstance(sqlstate, str) and (
            sqlstate[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or sqlstate == UNDEFINED_TABLE
        ):
            return True
    return False
