"""Who a read or an action on the API and the pages comes from: the credential a request
presents, made into a :class:`~bot.policy.Principal`.

The configured API token (``JOURNEYWATCH_API_TOKEN``) is an admin of every journey, as it
always could read and do everything. An access key (``journeywatch keys create --role``)
is its role over its team's journeys (``owner`` in journeys.yaml, read when the key is
presented, so a journey that changes hands moves with the file) and those it names; its
audit actor is ``key:<id>``. A key made only to send telemetry reads nothing (403): it
is on the senders' machines, and reading traces is no part of sending them. With no API
token configured (``JOURNEYWATCH_REQUIRE_TOKEN=false``, the demo's setting) a request
without a credential is ``anonymous``: a responder of every journey, which is what the
open pages and API always allowed, short of the audit page.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping

from pydantic import SecretStr

from bot.audit import ANONYMOUS, BEARER
from bot.keys.keyring import Keyring
from bot.keys.registry import PREFIX, KeyInfo
from bot.policy import Principal, Role, scope_of
from correlators.errors import NotPermitted, Unauthenticated

ACCESS_KEY = "access key"


def key_actor(key_id: str) -> str:
    return f"key:{key_id}"


def audit_detail(principal: Principal) -> dict[str, str]:
    """What the audit trail adds to an access key's actor: its role (the token's is
    always admin, anonymous always the open setting's)."""
    return {"role": principal.role.label} if principal.actor.startswith("key:") else {}


class Readers:
    """``owners``: each configured journey's owner team, read at each request (the
    configuration is replaced on reload)."""

    def __init__(
        self, keyring: Keyring, token: SecretStr | None, owners: Callable[[], Mapping[str, str | None]]
    ) -> None:
        self.keyring = keyring
        self.token = token
        self.owners = owners

    @property
    def open(self) -> bool:
        """No API token: a request without a credential is :func:`anonymous`."""
        return self.token is None

    def admin(self) -> Principal:
        """Whoever holds the API token."""
        return Principal(BEARER, Role.ADMIN)

    def anonymous(self) -> Principal | None:
        """Who a request without a credential is: nobody while a token is configured."""
        return Principal(ANONYMOUS, Role.RESPONDER) if self.open else None

    def is_token(self, presented: str) -> bool:
        return (
            self.token is not None
            and bool(presented)
            and hmac.compare_digest(presented.encode(), self.token.get_secret_value().encode())
        )

    async def presenting(self, presented: str | None) -> Principal | None:
        """The principal of a request presenting ``presented`` (None: nothing); None when
        it needs a credential. With no API token only an access key is looked at: any
        other header is ignored, as it always was by the open pages and API."""
        if not presented or (self.open and not presented.startswith(PREFIX)):
            return self.anonymous()
        return await self.principal(presented)

    async def principal(self, presented: str) -> Principal:
        """The principal of a presented credential; :class:`Unauthenticated` for a wrong,
        revoked or expired one, :class:`NotPermitted` for a key without a role."""
        if self.is_token(presented):
            return self.admin()
        if not presented.startswith(PREFIX):
            raise Unauthenticated("wrong token")
        return self.of_key(await self.keyring.identify(presented, kind=ACCESS_KEY))

    async def principal_of_id(self, key_id: str) -> Principal:
        """The principal of an access key known by its id alone (a cookie we signed)."""
        return self.of_key(await self.keyring.active(key_id, kind=ACCESS_KEY))

    def of_key(self, info: KeyInfo) -> Principal:
        if info.role is None:
            raise NotPermitted(
                f"key {info.id} sends telemetry and reads nothing; "
                "an operator makes an access key with `journeywatch keys create --team <team> --role viewer`"
            )
        if info.role is Role.ADMIN or info.journeys is None:
            return Principal(key_actor(info.id), info.role)
        return Principal(key_actor(info.id), info.role, scope_of(self.owners(), [info.team], info.journeys))
