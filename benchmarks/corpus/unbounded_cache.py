"""Regression: a token-introspection cache loses its bound.

An API gateway verifies bearer tokens (an HMAC check and a JSON claims decode) and caches
the decoded claims. Most tokens are seen once per session and never again, so the cache
must evict. ``before`` keeps the 2 048 most recent tokens; ``after`` swapped the LRU for a
plain dict "because it is faster" and keeps every token it ever saw.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections import OrderedDict
from collections.abc import MutableMapping

from . import Pair, Unit

SECRET = b"gateway-signing-key"
REQUESTS_PER_CALL = 400
CACHE_SIZE = 2048


def _sign(claims: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
    mac = hmac.new(SECRET, body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


class TokenVerifier:
    def __init__(self, cache: MutableMapping[str, dict[str, object]], bound: int | None) -> None:
        self._cache = cache
        self._bound = bound

    def claims(self, token: str) -> dict[str, object]:
        cached = self._cache.get(token)
        if cached is not None:
            if isinstance(self._cache, OrderedDict):
                self._cache.move_to_end(token)
            return cached
        body, mac = token.rsplit(".", 1)
        expected = hmac.new(SECRET, body.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected):
            raise PermissionError("bad signature")
        claims: dict[str, object] = json.loads(base64.urlsafe_b64decode(body))
        self._cache[token] = claims
        if self._bound is not None and len(self._cache) > self._bound:
            assert isinstance(self._cache, OrderedDict)
            self._cache.popitem(last=False)
        return claims


class Gateway:
    """Each call serves a burst of requests from sessions that were never seen before."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier
        self._burst = 0

    def __call__(self) -> int:
        self._burst += 1
        allowed = 0
        for i in range(REQUESTS_PER_CALL):
            claims = {
                "sub": f"user-{(self._burst * 7919 + i) % 100_000}",
                "sid": f"{self._burst}-{i}",
                "scope": ["orders:read", "orders:write"],
                "exp": 1_900_000_000,
            }
            token = _sign(claims)
            for _ in range(3):  # a page load makes a few API calls with the same token
                if "orders:read" in self._verifier.claims(token)["scope"]:  # type: ignore[operator]
                    allowed += 1
        return allowed


def before() -> Unit:
    return Gateway(TokenVerifier(OrderedDict(), CACHE_SIZE))


def after() -> Unit:
    return Gateway(TokenVerifier({}, None))


PAIR = Pair(
    name="unbounded_cache",
    kind="regression",
    expected=("regression",),
    reason="growth",
    summary="token cache: bounded LRU (2048) replaced by a plain dict",
    before=before,
    after=after,
    iterations=50,
    warmup=10,
)
