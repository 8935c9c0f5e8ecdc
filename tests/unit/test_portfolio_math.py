"""Portfolio math against a plain-Python reference in exact fractions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from portfolio.domain.chains import Chain
from portfolio.domain.portfolio import WalletHoldings, summarize
from portfolio.domain.prices import Price, price_key, round_usd, share
from portfolio.domain.tokens import Token, TokenBalance
from portfolio.domain.wallet import Wallet

T0 = datetime(2026, 1, 1, tzinfo=UTC)
TOKENS = [
    Token.native(Chain.ETHEREUM),
    Token.native(Chain.SOLANA),
    Token(Chain.ETHEREUM, "0x" + "a1" * 20, "USDC", "USD Coin", 6, True),
    Token(Chain.ETHEREUM, "0x" + "b2" * 20, "BIG", "Big", 24, True),
    Token(Chain.SOLANA, "So11111111111111111111111111111111111111112", "wSOL", None, 9, True),
    Token(Chain.ETHEREUM, "0x" + "c3" * 20, "USDC", "USD Coin", 6, False),  # spam copy
]

prices_st = st.dictionaries(
    st.sampled_from([price_key(t) for t in TOKENS]),
    st.tuples(
        st.decimals(min_value=0, max_value=10**6, places=8, allow_nan=False, allow_infinity=False),
        st.one_of(st.none(), st.decimals(min_value=Decimal("-0.9"), max_value=5, places=4)),
    ),
)
wallet_st = st.tuples(
    st.sampled_from([Chain.ETHEREUM, Chain.SOLANA]),
    st.lists(st.tuples(st.integers(0, len(TOKENS) - 1), st.integers(0, 2**128)), max_size=6),
)


def build(specs: list[tuple[Chain, list[tuple[int, int]]]]) -> list[WalletHoldings]:
    holdings = []
    for n, (chain, balances) in enumerate(specs):
        wallet = Wallet(UUID(int=n + 1), chain, f"w{n}", None, T0 + timedelta(seconds=n), T0)
        held = [TokenBalance(TOKENS[i], raw) for i, raw in balances if TOKENS[i].chain is chain]
        holdings.append(WalletHoldings(wallet, held, T0, stale=False))
    return holdings


@settings(max_examples=200)
@given(st.lists(wallet_st, max_size=6), prices_st, st.booleans())
def test_totals_match_an_exact_reference(
    specs: list[tuple[Chain, list[tuple[int, int]]]],
    quotes: dict[str, tuple[Decimal, Decimal | None]],
    include_unverified: bool,
) -> None:
    holdings = build(specs)
    prices = {k: Price(usd, change, T0, "test") for k, (usd, change) in quotes.items()}
    summary = summarize(holdings, prices, include_unverified=include_unverified)

    def counted(token: Token) -> Fraction | None:
        if not (token.verified or include_unverified) or price_key(token) not in prices:
            return None
        return Fraction(prices[price_key(token)].usd)

    expected_total = Fraction(0)
    expected_by_wallet = []
    for held in holdings:
        value = Fraction(0)
        for balance in held.balances:
            price = counted(balance.token)
            if price is not None:
                value += Fraction(balance.raw, 10**balance.token.decimals) * price
        expected_by_wallet.append(value)
        expected_total += value
    assert Fraction(summary.total) == expected_total
    by_id = {w.id: v for w, v in summary.by_wallet}
    assert [Fraction(by_id[h.wallet.id]) for h in holdings] == expected_by_wallet
    # summed as fractions: a Decimal sum in the default 28-digit context would round
    assert sum(map(Fraction, summary.by_chain.values()), Fraction(0)) == expected_total
    assert sum((Fraction(t.value or 0) for t in summary.by_token), Fraction(0)) == expected_total
    # every held token is either priced or unpriced, merged across wallets
    raws: dict[str, int] = {}
    for held in holdings:
        for balance in held.balances:
            if balance.raw:
                raws[price_key(balance.token)] = raws.get(price_key(balance.token), 0) + balance.raw
    listed = {price_key(t.token): t.raw for t in [*summary.by_token, *summary.unpriced]}
    assert listed == raws
    assert all(counted(t.token) is None for t in summary.unpriced)
    if summary.total:
        shares = sum(
            (share(t.value or Decimal(0), summary.total) for t in summary.by_token), Decimal(0)
        )
        assert abs(shares - 1) <= Decimal("0.000001") * len(summary.by_token)


def test_a_known_portfolio_to_the_cent() -> None:
    eth, sol, usdc, _, _, spam = TOKENS
    holdings = build(
        [
            (Chain.ETHEREUM, [(0, 15 * 10**17), (2, 2_500_000), (5, 10**12)]),
            (Chain.SOLANA, [(1, 3 * 10**9)]),
            (Chain.ETHEREUM, [(2, 7_500_000)]),
        ]
    )
    prices = {
        price_key(eth): Price(Decimal("2000"), Decimal("0.25"), T0, "t"),
        price_key(sol): Price(Decimal("150.5"), None, T0, "t"),
        price_key(usdc): Price(Decimal("0.9999"), Decimal("-0.5"), T0, "t"),
        price_key(spam): Price(Decimal("1"), None, T0, "t"),
    }
    summary = summarize(holdings, prices)
    # 1.5 ETH * 2000 + 10 USDC * 0.9999 + 3 SOL * 150.5 = 3000 + 9.999 + 451.5
    assert round_usd(summary.total) == Decimal("3461.50")
    assert {c: round_usd(v) for c, v in summary.by_chain.items()} == {
        Chain.ETHEREUM: Decimal("3010.00"),
        Chain.SOLANA: Decimal("451.50"),
    }
    assert [t.token for t in summary.by_token] == [eth, sol, usdc]
    assert summary.by_token[2].raw == 10_000_000  # merged across two wallets
    assert [t.token for t in summary.unpriced] == [spam]  # unverified stays out
    # ETH went up 25 %: 3000 was 2400 a day ago (+600); USDC halved: 9.999 was 19.998 (-9.999)
    assert summary.change_24h == Decimal(600) - Decimal("9.999")
    with_spam = summarize(holdings, prices, include_unverified=True)
    assert with_spam.total - summary.total == Decimal(1_000_000)  # 10**6 spam tokens at $1


def test_a_value_of_any_size_rounds_to_the_cent() -> None:
    """The default context's 28 digits refused 10**26 USD (a spam token's amount times a
    price reaches it): a 500 on any document showing it."""
    assert round_usd(Decimal("99999999999999999999999999.995")) == Decimal(10**26)
    assert str(round_usd(Decimal(f"{10**60}.125"))) == f"{10**60}.12"  # half to even
