"""The ingest endpoints: OTLP/HTTP (/v1/traces, /v1/logs, /v1/metrics) and Zipkin v2
(/api/v2/spans).

Responses follow the OTLP/HTTP specification, because SDK exporters act on them: 200 with
``partial_success`` when some items were rejected, 400 for a body that does not decode
(not retried), 401 without a valid ingest key (``bot.keys``; with ``WWW-Authenticate`` and
a message saying which header to send), 413 over the size limit, 415 for a media type or
encoding we do not speak, 503 with ``Retry-After`` when the store is behind or the ingest
spool cannot keep the request (retried by the exporter). A 200/202 is sent only once the
spool has what was accepted (see bot.collector.spool). Failure bodies are
``google.rpc.Status`` in the request's encoding.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from bot.collector.pipeline import Collector
from bot.collector.receive import Signal, accept_otlp
from bot.keys import Grant, KeyGate
from bot.telemetry import otlp
from bot.telemetry.otlp import Encoding
from correlators.errors import (
    IngestError,
    MalformedPayload,
    PayloadTooLarge,
    RetryLater,
    Unauthenticated,
    UnsupportedMedia,
)

log = logging.getLogger("journeywatch.collector")

_TOKEN = re.compile(r"[a-z0-9!#$&^_.+-]{1,40}")
_MEDIA_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]{1,40}/[a-z0-9!#$&^_.+-]{1,80}")

_MEDIA: dict[str, Encoding] = {
    "application/x-protobuf": "protobuf",
    "application/protobuf": "protobuf",
    "application/json": "json",
}
_CONTENT_TYPE: dict[Encoding, str] = {
    "protobuf": "application/x-protobuf",
    "json": "application/json",
}


def ingest_routes(collector: Collector, max_body_bytes: int, gate: KeyGate | None) -> list[Route]:
    """The four ingest routes, bound to one collector. ``gate``: the key check (None:
    anyone may send, as any service)."""

    async def traces(request: Request) -> Response:
        return await _otlp(request, collector, max_body_bytes, "traces", gate)

    async def logs(request: Request) -> Response:
        return await _otlp(request, collector, max_body_bytes, "logs", gate)

    async def metrics(request: Request) -> Response:
        return await _otlp(request, collector, max_body_bytes, "metrics", gate)

    async def zipkin_spans(request: Request) -> Response:
        return await _zipkin(request, collector, max_body_bytes, gate)

    return [
        Route("/v1/traces", traces, methods=["POST"]),
        Route("/v1/logs", logs, methods=["POST"]),
        Route("/v1/metrics", metrics, methods=["POST"]),
        Route("/api/v2/spans", zipkin_spans, methods=["POST"]),
        Route("/api/v1/spans", _zipkin_v1, methods=["POST"]),
    ]


ZIPKIN_V1 = (
    "Zipkin v1 spans are not accepted here; send Zipkin v2 JSON to /api/v2/spans "
    "(in Brave and zipkin-reporter: SpanBytesEncoder.JSON_V2, or the /api/v2/spans endpoint)"
)


async def _zipkin_v1(_: Request) -> Response:
    """Old tracers post v1 (Thrift or JSON) here by default; a 404 that names the route they
    need beats a bare one in their logs."""
    return PlainTextResponse(ZIPKIN_V1, status_code=404)


async def _otlp(
    request: Request, collector: Collector, limit: int, signal: Signal, gate: KeyGate | None
) -> Response:
    encoding: Encoding = _MEDIA.get(_media_type(request), "protobuf")
    try:
        grant = await _grant(request, gate)
        encoding = _encoding_of(request)
        collector.check_capacity()
        body = await _read_body(request, limit)
        payload = await accept_otlp(collector, signal, body, encoding, _charged(gate, grant, body))
    except IngestError as exc:
        return _failure(exc, encoding, lambda code, msg: otlp.encode_status(code, msg, encoding))
    return Response(payload, status_code=200, media_type=_CONTENT_TYPE[encoding])


async def _zipkin(request: Request, collector: Collector, limit: int, gate: KeyGate | None) -> Response:
    try:
        grant = await _grant(request, gate)
        if _media_type(request) != "application/json":
            raise UnsupportedMedia("Zipkin spans are accepted as application/json (v2) only")
        collector.check_capacity()
        body = await _read_body(request, limit)
        services = _charged(gate, grant, body)
        spans = collector.ingest_zipkin(body, services)
        await collector.durable()
    except IngestError as exc:
        return _failure(exc, "json", lambda _code, msg: msg.encode())
    collector.stats.rejected += spans.rejected
    collector.stats.trimmed += spans.trimmed
    return Response(status_code=202)


def _shown(value: str, shape: re.Pattern[str]) -> str:
    """A header value for a refusal's message (logged, and sent back): as sent when it
    has the shape such values have, else not at all, since a header is the sender's text
    and the log must hold nothing raw."""
    if not value:
        return "(none)"
    return repr(value) if shape.fullmatch(value) else "(not shown: not a valid value)"


async def _grant(request: Request, gate: KeyGate | None) -> Grant | None:
    """The request's key (None: keys are not required); checked before the body is read,
    so a sender without a key, or over its rate, costs no more than its headers."""
    if gate is None:
        return None
    return await gate.admit(request.headers)


def _charged(gate: KeyGate | None, grant: Grant | None, body: bytes) -> frozenset[str] | None:
    """The services the request's key may send (None: any), its body counted against the
    key's rate."""
    if gate is None or grant is None:
        return None
    gate.charge(grant, len(body))
    return grant.services


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _encoding_of(request: Request) -> Encoding:
    media = _media_type(request)
    if media not in _MEDIA:
        raise UnsupportedMedia(
            f"unsupported content type {_shown(media, _MEDIA_TYPE)}; "
            "use application/x-protobuf or application/json"
        )
    return _MEDIA[media]


async def _read_body(request: Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes, before and after gunzip (no decompression bombs)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes is over the limit of {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise UnsupportedMedia(f"unsupported content encoding {_shown(encoding, _TOKEN)}; use gzip or none")
    return _gunzip(body, limit)


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedPayload(f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body is over the limit of {limit} bytes")
    if not inflater.eof:
        raise MalformedPayload("gzip body is truncated")
    return out


def _failure(exc: IngestError, encoding: Encoding, encode: Callable[[int, str], bytes]) -> Response:
    headers = {}
    if isinstance(exc, RetryLater):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="journeywatch ingest"'
    log.info("ingest refused (%d): %s", exc.status_code, exc)
    return Response(
        encode(exc.status_code, str(exc)),
        status_code=exc.status_code,
        media_type=_CONTENT_TYPE[encoding],
        headers=headers,
    )
