"""The rate limiter's reservations: a busy caller is counted in few calls to the store, never
let through past the limit, and two processes sharing one store share one budget."""

from __future__ import annotations

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.asyncio import Redis

from portfolio.adapters import ratelimits
from portfolio.adapters.ratelimits import LimitsRateLimiter
from portfolio.domain.errors import RateLimitedError

REDIS = "redis://127.0.0.1:6379/12"


class CountingLimiter(MovingWindowRateLimiter):
    """The library's limiter, counting the calls that reach the store."""

    calls = 0

    async def hit(self, item: RateLimitItem, *identifiers: str, cost: int = 1) -> bool:
        self.calls += 1
        return await super().hit(item, *identifiers, cost=cost)


async def _allowed(limiter: LimitsRateLimiter, attempts: int, caller: str = "key:a") -> int:
    allowed = 0
    for _ in range(attempts):
        try:
            await limiter.hit("api", caller)
            allowed += 1
        except RateLimitedError:
            pass
    return allowed


async def test_a_busy_caller_is_counted_in_few_calls_to_the_store() -> None:
    store = CountingLimiter(MemoryStorage())
    limiter = LimitsRateLimiter(store, "100000/minute", "30/minute")
    assert await _allowed(limiter, 2000) == 2000
    assert store.calls < 2000 / 30  # reservations of up to 64
    counted = (await store.get_window_stats(limiter._limits["api"], "api", "key:a")).remaining
    assert 100000 - 2000 - ratelimits.MAX_RESERVATION <= counted <= 100000 - 2000  # ahead only


async def test_the_limit_is_never_exceeded_and_small_limits_count_one_by_one() -> None:
    store = CountingLimiter(MemoryStorage())
    limiter = LimitsRateLimiter(store, "500/minute", "30/minute")
    assert await _allowed(limiter, 700) == 500  # reservations of up to 10, then one by one
    assert store.calls < 700
    chain = CountingLimiter(MemoryStorage())
    strict = LimitsRateLimiter(chain, "500/minute", "30/minute")
    allowed = 0
    for _ in range(40):
        try:
            await strict.hit("chain", "key:a")
            allowed += 1
        except RateLimitedError:
            pass
    assert allowed == 30
    assert chain.calls == 40  # 30 / 50 rounds down to 1: no reservation


async def test_a_reservation_ends_with_its_lease() -> None:
    store = CountingLimiter(MemoryStorage())
    now = [1000.0]
    limiter = LimitsRateLimiter(store, "100000/minute", "30/minute", clock=lambda: now[0])
    await _allowed(limiter, 100)
    before = store.calls
    now[0] += 2 * ratelimits.LEASE_SECONDS  # a pause of a whole lease
    await _allowed(limiter, 1)
    await _allowed(limiter, 1)
    assert store.calls == before + 2  # after a pause the caller starts again at one


async def test_processes_sharing_redis_share_one_budget() -> None:
    clients = [Redis.from_url(REDIS) for _ in range(2)]
    await clients[0].flushdb()
    first, second = (
        LimitsRateLimiter(
            MovingWindowRateLimiter(
                RedisStorage(
                    f"async+{REDIS}",
                    implementation="redispy",
                    connection_pool=c.connection_pool,  # type: ignore[arg-type]
                )
            ),
            "1000/minute",
            "1/minute",
        )
        for c in clients
    )
    try:
        allowed = 0
        for _ in range(700):  # interleaved, as two API processes behind one balancer
            allowed += await _allowed(first, 1) + await _allowed(second, 1)
        assert allowed == 1000
    finally:
        for client in clients:
            await client.aclose()
