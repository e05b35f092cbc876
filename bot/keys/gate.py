"""The check at the door of each ingest request (and of ``POST /api/changes``): the key
from its header, through the keyring, into a :class:`Grant` or a refusal whose message
ends with how to send a key, since the person reading a 401 in an exporter's log is
usually one header away from working. A good key over its rate gets a 429."""

from __future__ import annotations

from collections.abc import Mapping

from bot.keys.header import KeyHeader
from bot.keys.keyring import Grant, Keyring
from bot.keys.rates import KeyRates
from correlators.errors import Unauthenticated


class KeyGate:
    """``rates``: each key's share of ingest (None: no limit)."""

    def __init__(self, keyring: Keyring, header: KeyHeader, rates: KeyRates | None = None) -> None:
        self.keyring = keyring
        self.header = header
        self.rates = rates

    async def admit(self, headers: Mapping[str, str], scope: str = "ingest") -> Grant:
        """The grant of the request's key; :class:`Unauthenticated` (401) with the hint,
        :class:`NotPermitted` (403) for a key without ``scope``, :class:`RateLimited` (429)
        for a key still paying for what it sent."""
        try:
            grant = await self.keyring.check(self.header.presented(headers), scope)
        except Unauthenticated as exc:
            raise Unauthenticated(f"{exc}; {self.header.hint()}") from None
        if self.rates is not None:
            self.rates.admit(grant.key_id)
        return grant

    def charge(self, grant: Grant, size: int) -> None:
        """Count an admitted request's body against its key's rate."""
        if self.rates is not None:
            self.rates.charge(grant.key_id, size)
