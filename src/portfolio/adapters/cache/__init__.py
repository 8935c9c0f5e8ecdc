"""Caches: Redis (redis.asyncio) and in-process memory."""
