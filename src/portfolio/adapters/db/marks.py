"""History marks: for each (wallet, token) and each bucket of 5 minutes, 1 hour and 1 day, the
last sample in that bucket. History queries read these instead of every sample, so a year at
one point a day reads 365 marks per token, not 105,120 samples.

A sample belongs to the bucket ``bucket_holding`` names (domain.history): (s, s + step], the
first bucket whose end is at or after it, which is what "the last value at or before the
bucket's end" needs. ``POSTGRES_MARK_ALL`` says the same rule in SQL for bulk loads (a test
checks the two agree)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, text, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from portfolio.adapters.db.models import BalanceHistoryRow, HistoryMarkRow
from portfolio.domain.history import Interval, bucket_holding

STEPS = [interval.step for interval in Interval]


async def write_history(
    session: AsyncSession, rows: Sequence[dict[str, Any]], dialect: str
) -> None:
    """Insert history samples and bring the marks up to date, in the caller's transaction."""
    if not rows:
        return
    returning = insert(BalanceHistoryRow).returning(
        BalanceHistoryRow.id, sort_by_parameter_order=True
    )
    ids = (await session.scalars(returning, [dict(row) for row in rows])).all()
    marks = [
        {
            "wallet_id": row["wallet_id"],
            "token_key": row["token_key"],
            "step_seconds": int(step.total_seconds()),
            "bucket": bucket_holding(row["recorded_at"], step),
            "usd_value": row["usd_value"],
            "recorded_at": row["recorded_at"],
            "history_id": history_id,
        }
        for row, history_id in zip(rows, ids, strict=True)
        for step in STEPS
    ]
    # Within one write, keep the last sample of each mark (later rows win a tie).
    latest: dict[tuple[Any, ...], dict[str, Any]] = {}
    for mark in marks:
        key = (mark["wallet_id"], mark["token_key"], mark["step_seconds"], mark["bucket"])
        known = latest.get(key)
        if known is None or (mark["recorded_at"], mark["history_id"]) >= (
            known["recorded_at"],
            known["history_id"],
        ):
            latest[key] = mark
    await session.execute(_upsert(dialect), list(latest.values()))


def _upsert(dialect: str) -> Any:
    """Insert a mark, or replace the stored one when the new sample is not older."""
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(HistoryMarkRow)
    excluded = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=["wallet_id", "token_key", "step_seconds", "bucket"],
        set_={
            "usd_value": excluded.usd_value,
            "recorded_at": excluded.recorded_at,
            "history_id": excluded.history_id,
        },
        where=tuple_(HistoryMarkRow.recorded_at, HistoryMarkRow.history_id)
        <= tuple_(excluded.recorded_at, excluded.history_id),
    )


# Marks every stored sample in one statement per step (PostgreSQL): for the migration that
# brought marks in, and for bulk loads.
POSTGRES_MARK_ALL = text(
    """
    INSERT INTO history_marks (wallet_id, token_key, step_seconds, bucket, usd_value,
                               recorded_at, history_id)
    SELECT DISTINCT ON (wallet_id, token_key, bucket)
           wallet_id, token_key, :step, bucket, usd_value, recorded_at, id
    FROM (
        SELECT h.*, date_bin(make_interval(secs => :step),
                             h.recorded_at - interval '1 microsecond',
                             timestamptz '1970-01-01 00:00:00+00') AS bucket
        FROM balance_history h
    ) placed
    ORDER BY wallet_id, token_key, bucket, recorded_at DESC, id DESC
    ON CONFLICT (wallet_id, token_key, step_seconds, bucket) DO NOTHING
    """
)


def mark_postgres_history(connection: Connection) -> None:
    for step in STEPS:
        connection.execute(POSTGRES_MARK_ALL, {"step": int(step.total_seconds())})
