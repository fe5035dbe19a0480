"""Who is calling: the API key from ``X-API-Key`` or a bearer token, looked up in group reads."""

from __future__ import annotations

from starlette.requests import Request

from producers.gateway.coalesce import Coalescer
from producers.gateway.problems import Refusal
from producers.keystore import ApiKey, KeyStore


def presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class Authenticator:
    """Each lookup reads the key store (a revoked key is refused at once), many per query."""

    def __init__(self, store: KeyStore) -> None:
        self._lookups: Coalescer[str, ApiKey | None] = Coalescer(
            store.lookup_many, in_thread=not store.is_local
        )

    async def __call__(self, request: Request) -> ApiKey:
        key = presented_key(request)
        if not key:
            raise Refusal(401, "Unauthorized", "send the integration's API key as X-API-Key")
        found = await self._lookups.submit(key)
        if found is None:
            raise Refusal(401, "Unauthorized", "unknown or revoked API key")
        return found
