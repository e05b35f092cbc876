"""The check at the door of each ingest request (and of ``POST /api/changes``): the key
from its header, through the keyring, into a :class:`Grant` or a refusal whose message
ends with how to send a key, since the person reading a 401 in an exporter's log is
usually one header away from working."""

from __future__ import annotations

from collections.abc import Mapping

from bot.keys.header import KeyHeader
from bot.keys.keyring import Grant, Keyring
from correlators.errors import Unauthenticated


class KeyGate:
    def __init__(self, keyring: Keyring, header: KeyHeader) -> None:
        self.keyring = keyring
        self.header = header

    async def admit(self, headers: Mapping[str, str], scope: str = "ingest") -> Grant:
        """The grant of the request's key; :class:`Unauthenticated` (401) with the hint,
        or :class:`NotPermitted` (403) for a key without ``scope``."""
        try:
            return await self.keyring.check(self.header.presented(headers), scope)
        except Unauthenticated as exc:
            raise Unauthenticated(f"{exc}; {self.header.hint()}") from None
