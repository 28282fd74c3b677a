"""Errors providers raise, which the failure ladder tells apart."""

from __future__ import annotations


class ProviderError(Exception):
    """A provider could not serve a request; the registry falls back to the next one."""

    def __init__(self, provider: str, message: str) -> None:
        """Name the provider in the message."""
        super().__init__(f"{provider}: {message}")
        self.provider = provider


class RateLimited(ProviderError):
    """HTTP 429: retried, and the provider is avoided until `retry_after` seconds have passed."""

    def __init__(self, provider: str, retry_after: float) -> None:
        """Keep the Retry-After the provider sent."""
        super().__init__(provider, f"rate limited (429), retry after {retry_after:g}s")
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """HTTP 5xx, a refused connection, or every provider's breaker open: transient."""


class NoProviderAvailable(ProviderError):
    """No provider of a capability may be called now (breakers open, rate limits)."""
