"""A wallet's current balances in its own row: ``wallets.balances`` (JSON: each token held at the
last good read, in the order first seen) replaces the ``balances`` table. A read that changed
some amounts then writes one row a changed balance (its change) and one a wallet (its read
time, and its balances when they changed), where it wrote a current row beside each change.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = sa.DateTime(timezone=True)
BASE_UNITS = sa.Numeric(78, 0).with_variant(sa.String(78), "sqlite")
HistoryId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
BATCH = 1000  # wallets written at once

# The tables as this revision reads and writes them.
meta = sa.MetaData()
wallets = sa.Table("wallets", meta, sa.Column("id", sa.Uuid()), sa.Column("balances", sa.Text()))
balances = sa.Table(
    "balances",
    meta,
    sa.Column("id", HistoryId),
    sa.Column("wallet_id", sa.Uuid()),
    sa.Column("token_key", sa.String(64)),
    sa.Column("symbol", sa.String(64)),
    sa.Column("name", sa.String(128)),
    sa.Column("decimals", sa.SmallInteger()),
    sa.Column("verified", sa.Boolean()),
    sa.Column("raw_balance", BASE_UNITS),
    sa.Column("fetched_at", UTC_TIME),
)


def upgrade() -> None:
    with op.batch_alter_table("wallets") as batch:
        batch.add_column(sa.Column("balances", sa.Text(), server_default="[]", nullable=False))
    connection = op.get_bind()
    after = None
    while True:  # a page of wallets at a time: memory holds one page's balances
        page = sa.select(wallets.c.id).order_by(wallets.c.id).limit(BATCH)
        if after is not None:
            page = page.where(wallets.c.id > after)
        ids = list(connection.scalars(page))
        if not ids:
            break
        after = ids[-1]
        documents = list(_documents(connection, ids))
        if documents:
            connection.execute(
                wallets.update()
                .where(wallets.c.id == sa.bindparam("wallet"))
                .values(balances=sa.bindparam("document")),
                documents,
            )
    op.drop_table("balances")


def downgrade() -> None:
    op.create_table(
        "balances",
        sa.Column("id", HistoryId, autoincrement=True, nullable=False),
        sa.Column("wallet_id", sa.Uuid(), nullable=False),
        sa.Column("token_key", sa.String(64), nullable=False),
        sa.Column("symbol", sa.String(64), nullable=True),
        sa.Column("name", sa.String(128), nullable=True),
        sa.Column("decimals", sa.SmallInteger(), nullable=False),
        sa.Column("raw_balance", BASE_UNITS, nullable=False),
        sa.Column("fetched_at", UTC_TIME, nullable=False),
        sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"],
            ["wallets.id"],
            name="fk_balances_wallet_id_wallets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_balances"),
        sa.UniqueConstraint("wallet_id", "token_key", name="uq_balances_wallet_id_token_key"),
    )
    connection = op.get_bind()
    sqlite = connection.dialect.name == "sqlite"
    documents = sa.select(wallets.c.id, wallets.c.balances).order_by(wallets.c.id)
    rows = (
        {"wallet_id": wallet, "token_key": key, "symbol": symbol, "name": name,
         "decimals": decimals, "verified": verified,
         "raw_balance": raw if sqlite else Decimal(raw),  # text on SQLite: all of uint256
         "fetched_at": _stored_time(sqlite, at)}
        for wallet, document in connection.execute(documents)
        for key, symbol, name, decimals, verified, raw, at in json.loads(document)
    )  # fmt: skip
    for batch_of in _batches(rows):
        connection.execute(balances.insert(), batch_of)
    with op.batch_alter_table("wallets") as batch:
        batch.drop_column("balances")


def _documents(connection: sa.Connection, ids: list[Any]) -> Iterator[dict[str, Any]]:
    """Each of these wallets with balances and its document, as the application writes it
    (adapters/db/balances.py): [key, symbol, name, decimals, verified, raw as text, recorded
    at in ISO 8601], in the order the rows were inserted."""
    held: dict[Any, list[list[Any]]] = {}
    query = sa.select(balances).where(balances.c.wallet_id.in_(ids)).order_by(balances.c.id)
    for row in connection.execute(query):
        at = row.fetched_at if row.fetched_at.tzinfo else row.fetched_at.replace(tzinfo=UTC)
        held.setdefault(row.wallet_id, []).append(
            [row.token_key, row.symbol, row.name, row.decimals, bool(row.verified),
             str(int(row.raw_balance)), at.astimezone(UTC).isoformat()]
        )  # fmt: skip
    for wallet, document in held.items():
        yield {"wallet": wallet, "document": json.dumps(document)}


def _stored_time(sqlite: bool, text: str) -> datetime:
    """SQLite keeps times as naive UTC (as the application's type stores them)."""
    moment = datetime.fromisoformat(text).astimezone(UTC)
    return moment.replace(tzinfo=None) if sqlite else moment


def _batches(items: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
