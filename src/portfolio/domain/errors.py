"""Every error the domain and the use cases raise. The API maps them to HTTP in one table."""

from __future__ import annotations

from uuid import UUID


class DomainError(Exception):
    """Base of every error this service raises on purpose."""


class ValidationError(DomainError):
    """Input that can never be valid, whatever is stored. ``field`` names the bad input."""

    field: str = "value"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        if field is not None:
            self.field = field


class InvalidAddressError(ValidationError):
    field = "address"


class InvalidLabelError(ValidationError):
    field = "label"


class InvalidAmountError(ValidationError):
    field = "amount"


class UnsupportedChainError(ValidationError):
    field = "chain"


class NotATokenError(ValidationError):
    """An address that holds no token: a contract answering no ``decimals()``, an account that
    is no mint."""

    field = "address"


class WalletNotFoundError(DomainError):
    def __init__(self, wallet_id: UUID) -> None:
        super().__init__(f"No wallet with id {wallet_id}.")
        self.wallet_id = wallet_id


class WebhookNotFoundError(DomainError):
    def __init__(self, webhook_id: UUID) -> None:
        super().__init__(f"No webhook with id {webhook_id}.")
        self.webhook_id = webhook_id


class WebhookUrlError(ValidationError):
    """A webhook URL that may not be a target (scheme, or an address it names or resolves to)."""

    field = "url"


class RefreshBatchNotFoundError(DomainError):
    def __init__(self, batch_id: str) -> None:
        super().__init__(f"No refresh {batch_id}.")
        self.batch_id = batch_id


class DuplicateWalletError(DomainError):
    def __init__(self, existing_id: UUID) -> None:
        super().__init__(f"This wallet is already tracked as {existing_id}.")
        self.existing_id = existing_id


class AuthenticationError(DomainError):
    """No valid API key was presented."""


class ForbiddenError(DomainError):
    """The key may not do this (a read-only key on a writing route)."""


class QuotaExceededError(ForbiddenError):
    """A tenant is at one of its quotas (wallets, tracked tokens, marks); the message names it."""


class RateLimitedError(DomainError):
    """The caller went past its rate limit."""

    def __init__(self, message: str, retry_after_seconds: int, limit: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
        self.limit = limit


class InvalidCursorError(ValidationError):
    field = "cursor"


class RecordRejectedError(DomainError):
    """The database answered but refused what was to be stored (a value it cannot hold): the
    wallets of that record failed; an outage is a StorageUnavailableError instead."""


class ServiceUnavailableError(DomainError):
    """A dependency could not answer; the caller may retry later."""

    retry_after_seconds: int = 5


class StorageUnavailableError(ServiceUnavailableError):
    """The database did not answer."""


class ChainUnavailableError(ServiceUnavailableError):
    """No RPC endpoint of a chain could be read."""

    retry_after_seconds = 10


class LockTimeoutError(ServiceUnavailableError):
    """Another fetch of the same wallet held on for too long."""


class ChainTimeoutError(ChainUnavailableError):
    """Every RPC endpoint of a chain timed out."""


class PriceUnavailableError(ServiceUnavailableError):
    """A price source could not be asked."""


class NotReadyError(DomainError):
    """A dependency answers but cannot serve yet (a database not migrated); the message says
    what an operator should do."""
