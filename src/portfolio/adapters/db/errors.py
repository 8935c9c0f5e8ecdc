"""Database failures become domain errors at this boundary."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from portfolio.domain.errors import StorageUnavailableError

_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeoutError, OSError, TimeoutError)


@asynccontextmanager
async def storage_errors() -> AsyncIterator[None]:
    """Turn 'the database did not answer' into StorageUnavailableError; let the rest through."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise StorageUnavailableError("The database is not answering.") from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise StorageUnavailableError("The database connection was lost.") from exc
        raise
