"""The HTTP API and the dashboard: read alerts freely, change a review only with the API token."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.resources import files
from itertools import islice
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field, create_model
from starlette.middleware.trustedhost import TrustedHostMiddleware

from fraudguard.alerts.export import csv_lines
from fraudguard.alerts.store import AlertFilter, AlertStore, ReviewStatus
from fraudguard.schemas import ALERT

DASHBOARD = files("fraudguard.alerts") / "dashboard"
MAX_NOTE = 2_000
MAX_EXPORT = 100_000
MAX_ROW_ID = 2**63 - 1  # the largest row id a database integer holds (SQLite, PostgreSQL bigint)
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_PYTHON_TYPES = {
    "string": str,
    "int": int,
    "double": float,
    "bool": bool,
    "timestamp": datetime,
    "strings": list[str],
}

Alert = create_model(  # type: ignore[call-overload]  # the stored alert: the ALERT schema's fields plus its review state
    "Alert",
    id=(int, ...),
    **{
        f.name: (_PYTHON_TYPES[f.type] | None if f.nullable else _PYTHON_TYPES[f.type], ...)
        for f in ALERT.fields
    },
    status=(ReviewStatus, ...),
    note=(str | None, None),
    reviewed_at=(datetime | None, None),
    received_at=(datetime, ...),
)


class AlertPage(BaseModel):
    alerts: list[Alert]
    total: int


def filters(
    since: datetime | None = None,
    until: datetime | None = None,
    user_id: str | None = None,
    merchant_id: str | None = None,
    min_score: Annotated[float | None, Query(ge=0, le=1)] = None,
    status: ReviewStatus | None = None,
) -> AlertFilter:
    """Time range on scored_at: since <= scored_at < until (times without a zone are UTC)."""
    return AlertFilter(_utc(since), _utc(until), user_id, merchant_id, min_score, status)


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment and moment.tzinfo is None else moment


class Review(BaseModel):
    status: ReviewStatus
    note: str | None = Field(None, max_length=MAX_NOTE)


def create_app(
    store: AlertStore,
    api_token: str | None,
    health: Callable[[], dict[str, Any]],
    allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost"),
) -> FastAPI:
    """`allowed_hosts`: the names the service is reached by (a page on another site that points its
    own name at this address, DNS rebinding, gets 400)."""
    app = FastAPI(
        title="fraudguard alerts",
        summary="Fraud alerts from the streaming job: list, filter, review, export, statistics.",
        version="1",
    )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    def require_token(authorization: Annotated[str | None, Header()] = None) -> None:
        if not api_token:
            raise HTTPException(403, "writes are disabled: set FRAUDGUARD__ALERTS__API_TOKEN for the service")
        supplied = (authorization or "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(supplied.encode(), api_token.encode()):
            raise HTTPException(401, "a valid `Authorization: Bearer <token>` header is required")

    @app.get("/api/alerts", response_model=AlertPage)
    def list_alerts(
        where: Annotated[AlertFilter, Depends(filters)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after_id: Annotated[
            int | None,
            Query(ge=0, le=MAX_ROW_ID, description="only alerts stored after this id, oldest first"),
        ] = None,
    ) -> dict[str, Any]:
        """Newest first, or with `after_id` the ones stored since (how the dashboard updates live)."""
        return {"alerts": store.find(where, limit=limit, after_id=after_id), "total": store.count(where)}

    @app.get("/api/alerts.csv", response_class=StreamingResponse)
    def export_csv(
        where: Annotated[AlertFilter, Depends(filters)],
        limit: Annotated[int, Query(ge=1, le=MAX_EXPORT)] = MAX_EXPORT,
    ) -> StreamingResponse:
        """The matching alerts as CSV, in arrival order, at most `limit` (narrow the time range for more)."""
        return StreamingResponse(
            csv_lines(islice(store.iterate(where), limit)),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="fraud-alerts.csv"'},
        )

    @app.get("/api/alerts/{transaction_id}", response_model=Alert)
    def get_alert(transaction_id: str) -> dict[str, Any]:
        return _found(store.get(transaction_id), transaction_id)

    @app.patch("/api/alerts/{transaction_id}", response_model=Alert, dependencies=[Depends(require_token)])
    def review_alert(transaction_id: str, review: Review) -> dict[str, Any]:
        """Set the review status (new, reviewing, confirmed_fraud, false_positive) and an optional note."""
        return _found(store.review(transaction_id, review.status, review.note), transaction_id)

    @app.get("/api/stats")
    def stats(minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60) -> dict[str, Any]:
        """Alerts per minute (by scored_at), by merchant category, country and place, review precision."""
        return store.stats(minutes)

    @app.get("/api/health")
    def service_health() -> dict[str, Any]:
        return health()

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(str(DASHBOARD / "index.html"))

    app.mount("/static", StaticFiles(directory=str(DASHBOARD)), name="static")
    return app


def _found(alert: dict[str, Any] | None, transaction_id: str) -> dict[str, Any]:
    if alert is None:
        raise HTTPException(404, f"no alert for transaction {transaction_id}")
    return alert
