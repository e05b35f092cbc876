"""Where a sender puts its key: an HTTP header (``Authorization: Bearer <key>`` by
default, as OTLP exporters send with ``OTEL_EXPORTER_OTLP_HEADERS``), and what a refused
sender is told so that the fix is in the answer."""

from __future__ import annotations

from collections.abc import Mapping

AUTHORIZATION = "authorization"


def bearer(header: str | None) -> str | None:
    """The credentials of an ``Authorization`` header in the Bearer scheme, whose name
    matches in any case (RFC 7235 section 2.1); None for another scheme or none."""
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


class KeyHeader:
    """The header ingest keys come in. ``name`` other than Authorization (say
    ``x-journeywatch-key``, for a proxy that keeps Authorization for itself) holds the key
    alone, or ``Bearer <key>``."""

    def __init__(self, name: str = AUTHORIZATION) -> None:
        self.name = name.strip().lower()

    def presented(self, headers: Mapping[str, str]) -> str | None:
        raw = headers.get(self.name)
        if raw is None or self.name == AUTHORIZATION:
            return bearer(raw)
        return bearer(raw) or raw.strip() or None

    def hint(self) -> str:
        """How to send a key, for the 401's message."""
        shown = "Authorization" if self.name == AUTHORIZATION else self.name
        value = "Bearer <key>" if self.name == AUTHORIZATION else "<key>"
        exporter = f"OTEL_EXPORTER_OTLP_HEADERS={shown}={value.replace(' ', '%20')}"
        return (
            f"send the header {shown}: {value} ({exporter}); "
            "an operator makes keys with `journeywatch keys create --team <team>`"
        )
