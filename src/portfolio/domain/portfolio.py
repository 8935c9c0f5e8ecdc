"""Portfolio math: totals by chain, by token (one token merged across wallets) and by wallet,
shares of the total, what is left unpriced, and the 24-hour change. Pure and exact: values are
exact Decimals here; rounding happens where they are shown."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext

from portfolio.domain.amounts import Amount
from portfolio.domain.chains import Chain
from portfolio.domain.prices import VALUE_CONTEXT, Price, price_key, value_of
from portfolio.domain.tokens import Token, TokenBalance
from portfolio.domain.wallet import Wallet

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class WalletHoldings:
    wallet: Wallet
    balances: Sequence[TokenBalance]
    as_of: datetime | None
    stale: bool


@dataclass(frozen=True, slots=True)
class TokenTotal:
    token: Token
    raw: int
    price: Price | None = None
    value: Decimal | None = None

    @property
    def amount(self) -> Amount:
        return Amount(self.raw, self.token.decimals)


@dataclass(frozen=True, slots=True)
class Summary:
    total: Decimal
    by_chain: dict[Chain, Decimal]
    by_token: list[TokenTotal]  # priced and counted, largest first
    by_wallet: list[tuple[Wallet, Decimal]]
    unpriced: list[TokenTotal]  # no price, or not counted (unverified)
    change_24h: Decimal | None
    as_of: datetime | None
    stale: bool
    wallet_count: int = field(default=0)
    spam: list[TokenTotal] = field(default_factory=list)  # marked spam: asked for, not counted
    unverified: list[TokenTotal] = field(default_factory=list)  # found on chain, no price yet


def summarize(
    holdings: Sequence[WalletHoldings],
    prices: Mapping[str, Price],
    *,
    include_unverified: bool = False,
    found: Collection[str] = frozenset(),
) -> Summary:
    """``found``: the price keys of tokens on no list found in the wallets' transfers. Such a
    token counts once a price source prices it (by its contract address); until then it is
    listed under ``unverified``, apart from the listed tokens that have no price."""
    counts = _Counting(prices, include_unverified, found)
    merged: dict[str, tuple[Token, int]] = {}
    by_wallet: list[tuple[Wallet, Decimal]] = []
    by_chain: dict[Chain, Decimal] = {}
    with localcontext(VALUE_CONTEXT):
        for held in holdings:
            wallet_value = ZERO
            for balance in held.balances:
                if not balance.raw:
                    continue
                key = f"{price_key(balance.token)}:{balance.token.kind}"  # staked apart
                token, raw = merged.get(key, (balance.token, 0))
                merged[key] = (token, raw + balance.raw)
                price = counts.price(balance.token)
                value = value_of(balance.raw, balance.token.decimals, price)
                if value is not None:
                    wallet_value += value
            by_wallet.append((held.wallet, wallet_value))
            by_chain[held.wallet.chain] = by_chain.get(held.wallet.chain, ZERO) + wallet_value
        priced, unpriced = _split(merged, counts)
        total = sum((t.value or ZERO for t in priced), ZERO)
        change = _change(priced)
    used = [t.price for t in priced if t.price is not None]
    times = [h.as_of for h in holdings if h.as_of is not None] + [p.as_of for p in used]
    return Summary(
        total=total,
        by_chain=by_chain,
        by_token=sorted(priced, key=lambda t: (-(t.value or ZERO), price_key(t.token))),
        by_wallet=sorted(by_wallet, key=lambda w: (-w[1], w[0].created_at, w[0].id)),
        unpriced=sorted((t for t in unpriced if price_key(t.token) not in found), key=_by_key),
        unverified=sorted((t for t in unpriced if price_key(t.token) in found), key=_by_key),
        change_24h=change,
        as_of=min(times) if times else None,
        stale=any(h.stale for h in holdings) or any(p.stale for p in used),
        wallet_count=len(holdings),
    )


def _by_key(total: TokenTotal) -> str:
    return price_key(total.token)


@dataclass(frozen=True, slots=True)
class _Counting:
    """Which tokens count, at which price: a listed one (or any, with ``include_unverified``)
    or one found on chain, at its price; none without one."""

    prices: Mapping[str, Price]
    include_unverified: bool
    found: Collection[str]

    def price(self, token: Token) -> Price | None:
        key = price_key(token)
        if token.verified or self.include_unverified or key in self.found:
            return self.prices.get(key)
        return None


def _split(
    merged: Mapping[str, tuple[Token, int]], counts: _Counting
) -> tuple[list[TokenTotal], list[TokenTotal]]:
    priced, unpriced = [], []
    for token, raw in merged.values():
        price = counts.price(token)
        if price is None:
            unpriced.append(TokenTotal(token, raw))
        else:
            value = value_of(raw, token.decimals, price)
            priced.append(TokenTotal(token, raw, price, value))
    return priced, unpriced


def _change(priced: Sequence[TokenTotal]) -> Decimal | None:
    """What the priced holdings gained or lost over 24 hours at their price change: a value
    ``v`` whose price moved by the fraction ``c`` was worth ``v / (1 + c)`` a day ago."""
    changes = [
        t.value * t.price.change_24h / (1 + t.price.change_24h)
        for t in priced
        if t.price is not None
        and t.value is not None
        and t.price.change_24h is not None
        and t.price.change_24h > -1
    ]
    return sum(changes, ZERO) if changes else None
