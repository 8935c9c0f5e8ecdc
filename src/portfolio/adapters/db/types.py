"""Column types that behave the same on PostgreSQL and SQLite.

SQLite has no exact wide numeric type: its NUMERIC affinity turns anything past 2**63 into a
float. Exact numbers are therefore stored as text there, and as NUMERIC on PostgreSQL.
SQLite also drops time zones, so times are stored as naive UTC there and come back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

_SQLITE = "sqlite"


class UtcDateTime(TypeDecorator[datetime]):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == _SQLITE else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class BaseUnits(TypeDecorator[int]):
    """A non-negative integer up to uint256: NUMERIC(78, 0), text on SQLite."""

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == _SQLITE:
            return dialect.type_descriptor(String(78))
        return dialect.type_descriptor(Numeric(78, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return str(value) if dialect.name == _SQLITE else Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class _ExactNumber(TypeDecorator[Decimal]):
    """An exact decimal: ``postgres`` there, text of ``sqlite`` on SQLite."""

    impl = Numeric()
    cache_ok = True
    postgres: Numeric[Decimal] = Numeric(asdecimal=True)
    sqlite: String = String()

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(self.sqlite if dialect.name == _SQLITE else self.postgres)

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        return format(value, "f") if dialect.name == _SQLITE else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class ExactDecimal(_ExactNumber):
    """A USD price or value: NUMERIC(48, 18), text on SQLite."""

    impl = Numeric(48, 18)
    cache_ok = True
    postgres = Numeric(48, 18, asdecimal=True)
    sqlite = String(64)


class ExactAmount(_ExactNumber):
    """Any exact decimal, signed, of any scale (a change of a token amount, a sum of values):
    NUMERIC without bounds, text on SQLite."""

    cache_ok = True
