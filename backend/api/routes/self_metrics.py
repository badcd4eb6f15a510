"""`/metrics`: the backend's own metrics in the Prometheus text format (OpenMetrics on request)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from backend.api.deps import MetricsDep

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="The backend's own Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus exposition."}},
)
async def metrics(request: Request, backend_metrics: MetricsDep) -> Response:
    body, content_type = backend_metrics.exposition(request.headers.get("accept"))
    return Response(content=body, media_type=content_type)
