"""Ingest endpoints: authenticate, bound the body, decode, translate, hand to the pipeline.

Every refusal is a 4xx naming the problem, in the receiver's own format (`{"detail": ...}` for the
agent JSON, a `google.rpc.Status` for OTLP, text for remote_write: `backend.api.errors`), and
nothing of a refused request reaches the pipeline. `Overloaded` from the pipeline, or PostgreSQL or
Redis away, becomes 503 with `Retry-After`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from anyio import to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from backend.api.deps import AgentTokenDep, services
from backend.api.errors import (
    RETRY_AFTER_SECONDS,
    UNAVAILABLE,
    protocol_error,
    unavailable_detail,
)
from backend.ingest import json_report, otlp, remote_write, remote_write_v2, report_schema_check
from backend.ingest.dedup import Claim
from backend.ingest.limits import IngestError, decode_content_encoding, too_large
from backend.model import IngestBatch, InvalidSample, Overloaded
from backend.pipeline import NotCommitted

log = logging.getLogger(__name__)

router = APIRouter(tags=["ingest"])

# Bodies above this are translated in a worker thread so one big batch can't stall the event loop.
_THREAD_THRESHOLD_BYTES = 256 * 1024

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Undecodable body (malformed JSON, corrupt protobuf/gzip/snappy)."},
    401: {"description": "Missing, invalid or revoked agent token (`WWW-Authenticate: Bearer`)."},
    413: {"description": "Body larger than `max_body_bytes`, as sent or after decompression."},
    415: {"description": "Unsupported Content-Type or Content-Encoding."},
    429: {"description": "This agent token's rate limit is spent; retry after `Retry-After`."},
    422: {"description": "Valid encoding but invalid content; `detail` names the field path."},
    503: {
        "description": "Not stored: the writer queue is full or PostgreSQL did not commit in "
        "time; retry after `Retry-After` seconds."
    },
}


def _body_doc(description: str, *media_types: str) -> dict[str, Any]:
    """OpenAPI for a body the route reads raw (it must bound the size before parsing): a JSON
    object, or binary for protobuf."""
    binary = {"type": "string", "format": "binary"}
    content = {
        media: {"schema": {"type": "object"} if media.endswith("json") else binary}
        for media in media_types
    }
    return {"requestBody": {"required": True, "description": description, "content": content}}


class JsonIngestResult(BaseModel):
    accepted_reports: int
    duplicate_reports: int  # already stored from an earlier attempt (same instance_id and seq)
    samples: int


async def read_body_limited(request: Request, max_bytes: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds `max_bytes` (never read in full first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(f"body: Content-Length {declared} is more than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_large(f"body: more than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _off_loop(size: int, work: Callable[[], Any]) -> Any:
    if size > _THREAD_THRESHOLD_BYTES:
        return await to_thread.run_sync(work)
    return work()


async def _ingest(
    request: Request,
    protocol: str,
    handle: Callable[[bytes], Awaitable[Response]],
    error_headers: dict[str, str] | None = None,
) -> Response:
    """Run `handle` on the bounded body; refusals in the receiver's own format (JSON `detail`,
    OTLP `Status`, remote_write text) with `error_headers` added."""
    metrics = services(request).metrics

    def refuse(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
        all_headers = {**(error_headers or {}), **(headers or {})} or None
        answer = protocol_error(request, status, detail, all_headers)
        if answer is not None:
            return answer
        return JSONResponse({"detail": detail}, status_code=status, headers=all_headers)

    try:
        body = await read_body_limited(request, services(request).ingest_limits.max_body_bytes)
        response = await handle(body)
    except IngestError as exc:
        metrics.ingest_rejected(protocol, exc.reason)
        return refuse(exc.status, exc.detail)
    except InvalidSample as exc:  # the storage layer's last word on what PostgreSQL can hold
        metrics.ingest_rejected(protocol, "invalid")
        return refuse(422, f"unstorable sample: {exc}")
    except Overloaded as exc:
        metrics.ingest_rejected(protocol, "overloaded")
        return refuse(503, str(exc), {"Retry-After": str(exc.retry_after_seconds)})
    except UNAVAILABLE as exc:  # PostgreSQL or Redis away: the sender must keep the data
        metrics.ingest_rejected(protocol, "unavailable")
        return refuse(503, unavailable_detail(exc), {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return response  # the pipeline counts accepted requests


async def _accept(request: Request, batch: IngestBatch) -> None:
    if not batch.samples and not batch.process_snapshots:
        return
    found = services(request)
    await found.pipeline.accept(batch)
    found.metrics.ingest_samples(batch.protocol, len(batch.samples))


def _now_ms() -> int:
    return int(time.time() * 1000)


@router.post(
    "/ingest/metrics",
    summary="The HostPulse agent's JSON reports (schema v1, optionally gzip)",
    response_model=JsonIngestResult,
    responses=_ERRORS,
    openapi_extra=_body_doc(
        "A batch of agent reports; schema: conventions/schema/report-v1.schema.json.",
        "application/json",
    ),
)
async def ingest_json(request: Request, _token: AgentTokenDep) -> Response:
    """Documents the route in OpenAPI; `backend.api.json_fast_path` serves its requests."""
    return await ingest_json_body(request)


async def ingest_json_body(request: Request) -> Response:
    """POST /ingest/metrics once the agent token has been checked."""
    limits = services(request).ingest_limits
    encoding = request.headers.get("content-encoding")

    async def handle(body: bytes) -> Response:
        def translate() -> list[json_report.TranslatedReport]:
            raw = decode_content_encoding(body, encoding, limits.max_body_bytes)
            document = json_report.parse_json(raw)
            checked = report_schema_check.validate_document(document)
            checked = checked and not report_schema_check.may_contain_nul(raw)
            return json_report.translate_document(
                document, now_ms=_now_ms(), limits=limits, shape_checked=checked
            )

        reports: list[json_report.TranslatedReport] = await _off_loop(len(body), translate)
        dedup = services(request).deduplicator
        keys = [(r.instance_id, r.seq) for r in reports]
        found = await dedup.claim(keys)
        claimed = [k for k, claim in zip(keys, found, strict=True) if claim == Claim.NEW]
        if Claim.BUSY in found:  # an earlier attempt is being stored: its outcome decides
            await dedup.release(claimed)
            raise Overloaded(1)
        chosen = [r for r, claim in zip(reports, found, strict=True) if claim == Claim.NEW]
        batch = json_report.to_batch(chosen)
        try:
            await _accept(request, batch)
        except NotCommitted as exc:  # still queued: stored or released when the write ends
            dedup.settle_when(claimed, exc.committed)
            raise
        except BaseException:
            await dedup.release(claimed)
            raise
        await dedup.stored(claimed)
        result = {  # JsonIngestResult, without a model to build on every request
            "accepted_reports": len(chosen),
            "duplicate_reports": len(reports) - len(chosen),
            "samples": len(batch.samples),
        }
        return Response(orjson.dumps(result), media_type="application/json")

    return await _ingest(request, "json", handle)


@router.post(
    "/v1/metrics",
    summary="OTLP/HTTP metrics (protobuf or JSON, optionally gzip)",
    response_class=Response,
    responses={
        **_ERRORS,
        200: {"description": "ExportMetricsServiceResponse, request's encoding."},
    },
    openapi_extra=_body_doc(
        "An OTLP ExportMetricsServiceRequest.", "application/x-protobuf", "application/json"
    ),
)
async def ingest_otlp(request: Request, _token: AgentTokenDep) -> Response:
    limits = services(request).ingest_limits

    async def handle(body: bytes) -> Response:
        kind = otlp.media_type(request.headers.get("content-type"))
        encoding = request.headers.get("content-encoding")

        def translate() -> otlp.OtlpTranslation:
            raw = decode_content_encoding(body, encoding, limits.max_body_bytes)
            decoded = otlp.decode_request(raw, kind)
            return otlp.translate_request(decoded, now_ms=_now_ms(), limits=limits)

        translation: otlp.OtlpTranslation = await _off_loop(len(body), translate)
        if translation.rejected_points:
            services(request).metrics.ingest_rejected("otlp", "non_finite_points")
        await _accept(request, translation.batch())
        return Response(otlp.encode_response(translation, kind), media_type=kind)

    return await _ingest(request, "otlp", handle)


_REMOTE_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    204: {
        "description": (
            "Stored. For 2.0 requests the `X-Prometheus-Remote-Write-Samples-Written`, "
            "`-Histograms-Written` and `-Exemplars-Written` headers count what was stored."
        )
    },
    400: {"description": "Corrupt snappy or protobuf, or a 2.0 symbol reference out of range."},
    415: {
        "description": (
            "Content-Type other than application/x-protobuf with proto=prometheus.WriteRequest "
            "(1.0, also the default) or proto=io.prometheus.write.v2.Request (2.0), or a "
            "Content-Encoding other than snappy."
        )
    },
    503: {"description": "Writer queue full or a store away; retry after `Retry-After` seconds."},
}


@router.post(
    "/api/v1/write",
    summary="Prometheus remote_write 1.0 and 2.0 (snappy-compressed protobuf)",
    status_code=204,
    response_class=Response,
    responses=_REMOTE_WRITE_ERRORS,
    openapi_extra=_body_doc(
        "A snappy (block format) compressed prometheus.WriteRequest (1.0) or "
        "io.prometheus.write.v2.Request (2.0), chosen by the Content-Type's proto= parameter.",
        "application/x-protobuf",
    ),
)
async def ingest_remote_write(request: Request, _token: AgentTokenDep) -> Response:
    limits = services(request).ingest_limits
    content_type = request.headers.get("content-type")
    v2 = "io.prometheus.write.v2" in (content_type or "").lower()
    error_headers = remote_write_v2.written_headers() if v2 else None

    async def handle(body: bytes) -> Response:
        proto = remote_write.message_type(content_type)
        encoding = request.headers.get("content-encoding")

        def translate() -> Any:
            raw = remote_write.unsnappy(body, encoding, limits.max_body_bytes)
            if proto == remote_write.V2:
                decoded = remote_write_v2.parse_request(raw)
                return remote_write_v2.translate_request(decoded, now_ms=_now_ms(), limits=limits)
            return remote_write.translate_request(
                remote_write.parse_request(raw), now_ms=_now_ms(), limits=limits
            )

        translation = await _off_loop(len(body), translate)
        if translation.dropped_non_finite:
            # Mostly Prometheus' stale markers (a NaN meaning "series gone"); nothing to store.
            log.debug("remote_write: dropped %d NaN/Inf samples", translation.dropped_non_finite)
        await _accept(request, translation.batch())
        if isinstance(translation, remote_write_v2.RemoteWriteV2Translation):
            return Response(status_code=204, headers=translation.written_headers())
        return Response(status_code=204)

    return await _ingest(request, "remote_write", handle, error_headers)
