"""Ingest keys: who may send telemetry, as which services, and for how long.

``registry`` keeps them (hashed) in the database; ``keyring`` checks a presented key on
each request through a cache bounded in bytes; ``header`` reads it from a request and
``gate`` turns the two into a grant or a 401 that says how to send a key; ``rates`` keeps
each key to its share of ingest. Access keys (a key with a role) read the API and pages:
``readers`` makes a request's credential, the API token or an access key, into the
principal ``bot.policy`` judges.
"""

from bot.keys.gate import KeyGate
from bot.keys.header import KeyHeader, bearer
from bot.keys.keyring import Grant, Keyring
from bot.keys.rates import KeyRates
from bot.keys.readers import Readers
from bot.keys.registry import KeyInfo, KeyRegistry, NewKey

__all__ = [
    "Grant",
    "KeyGate",
    "KeyHeader",
    "KeyInfo",
    "KeyRates",
    "KeyRegistry",
    "Keyring",
    "NewKey",
    "Readers",
    "bearer",
]
