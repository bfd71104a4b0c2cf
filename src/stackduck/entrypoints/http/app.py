"""The HTTP application: /metrics, /healthz, the dashboard at / and its JSON API."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Protocol

from aiohttp import web

from stackduck.application.bulk import BulkActions, JobSelection
from stackduck.application.gate import Gate
from stackduck.application.health import serving
from stackduck.application.history import History
from stackduck.application.job_admin import JobAdmin
from stackduck.application.limits import Limits
from stackduck.application.ports import JobQuery, Order, Page, StorageHealth
from stackduck.application.producer import Producer
from stackduck.application.queue_admin import DeadLetterSelection, QueueAdmin
from stackduck.application.schedules import Schedules
from stackduck.domain.errors import (
    IllegalTransition,
    InvalidJob,
    NotFound,
    ShuttingDown,
    StackduckError,
    StorageUnavailable,
)
from stackduck.domain.job import STATUS_OF as JOB_STATUSES
from stackduck.domain.job import JobStatus
from stackduck.domain.rules import JobRequest
from stackduck.entrypoints.http import bodies, views

log = logging.getLogger(__name__)

COOKIE = "stackduck_token"
#: Browsers cannot set custom headers on cross-site form posts: requiring one on
#: every state-changing request closes the door to CSRF through the cookie.
CSRF_HEADER = "X-Stackduck"
OPEN_PATHS = frozenset({"/healthz", "/login"})
#: The bodies the changes take: which dead letters, or nothing at all.
SELECTION = 'send a JSON object: {"job_ids": ["<id>", ...]} or {"job_type": "<type>"} or {"all": true}'
SELECTION_FIELDS: dict[str, bodies.Check] = {
    "job_ids": bodies.ids,
    "job_type": bodies.text,
    "all": bodies.boolean,
}
NO_FIELDS = "this call takes no body fields: send an empty body, or {}"
BULK = (
    'send a JSON object: {"action": "cancel" | "requeue" | "delete", then "job_ids": ["<id>", ...] '
    'or a filter ("status", "job_type", "priority", "group", "scheduled", "metadata": "key=value") '
    'or "all": true, and "count_only": true to count first}'
)
BULK_FIELDS: dict[str, bodies.Check] = {
    "action": bodies.text,
    "job_ids": bodies.ids,
    "status": bodies.text,
    "job_type": bodies.text,
    "priority": bodies.whole,
    "group": bodies.text,
    "scheduled": bodies.boolean,
    "metadata": bodies.text,
    "all": bodies.boolean,
    "count_only": bodies.boolean,
}
#: The jobs browser's sort orders, by the name the query string gives.
ORDERS = {order.value: order for order in Order}
NEW_JOB = (
    'send a JSON object: {"job_type": "<type>", "payload": "<JSON text>", "priority": 1-3, '
    '"scheduled_in": <seconds>} (only job_type is required)'
)
NEW_JOB_FIELDS: dict[str, bodies.Check] = {
    "job_type": bodies.text,
    "payload": bodies.text,
    "priority": bodies.whole,
    "scheduled_in": bodies.number,
}
STATUS_OF: tuple[tuple[type[StackduckError], int], ...] = (
    (InvalidJob, 400),
    (NotFound, 404),
    (IllegalTransition, 409),
    (StorageUnavailable, 503),
    (ShuttingDown, 503),
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class MetricsPage(Protocol):
    async def render(self) -> tuple[bytes, str]:
        """The exposition and its content type."""


def _asset(name: str) -> str:
    return files("stackduck.entrypoints.http").joinpath(name).read_text()


def build_app(
    producer: Producer,
    job_admin: JobAdmin,
    bulk: BulkActions,
    queue_admin: QueueAdmin,
    schedules: Schedules,
    limits: Limits,
    history: History,
    metrics: MetricsPage,
    health: StorageHealth,
    gate: Gate,
    token: str | None,
    readonly: str | None = None,
) -> web.Application:
    tokens = Tokens(token, readonly)
    app = web.Application(middlewares=[_errors, _authenticate(tokens)])
    dashboard = _asset("dashboard.html")
    login = _asset("login.html")

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=dashboard, content_type="text/html")

    async def login_form(request: web.Request) -> web.Response:
        return web.Response(text=login, content_type="text/html")

    async def login_post(request: web.Request) -> web.Response:
        given = await bodies.form_field(request, "token")
        if tokens.role(given) is None:
            return web.Response(text=login, content_type="text/html", status=401)
        response = web.HTTPSeeOther("/")
        response.set_cookie(COOKIE, given, httponly=True, samesite="Strict", secure=request.secure)
        raise response

    async def healthz(request: web.Request) -> web.Response:
        tiers = await health.check()
        ok = serving(tiers, gate.closed.is_set())
        body = {"status": "serving" if ok else "not serving", "tiers": tiers}
        return web.json_response(body, status=200 if ok else 503)

    async def prometheus(request: web.Request) -> web.Response:
        body, content_type = await metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def queues(request: web.Request) -> web.Response:
        return web.json_response([views.queue(v) for v in await queue_admin.queues()])

    async def workers(request: web.Request) -> web.Response:
        return web.json_response([views.worker(c) for c in queue_admin.workers()])

    async def dead(request: web.Request) -> web.Response:
        limit = _number("limit", request.query.get("limit", "0") or "0")
        page = await job_admin.dead_letters(
            request.query.get("job_type") or None, limit, request.query.get("cursor", "")
        )
        # A page is cut by size in storage (JobAdmin's byte budget); the listing leaves the
        # payloads out: /api/jobs/{id} has a job's whole record.
        return _page(page)

    async def jobs(request: web.Request) -> web.Response:
        """Every job the filters match, in the order asked (oldest first unless told), a
        page at a time."""
        query = request.query
        order = query.get("order", "") or "oldest"
        if order not in ORDERS:
            raise InvalidJob(f"order must be one of {', '.join(ORDERS)}; got {order!r}")
        scheduled = query.get("scheduled", "")
        if scheduled not in ("", "true", "false"):
            raise InvalidJob(f"scheduled must be true or false; got {scheduled!r}")
        wanted = JobQuery(
            status=_status(query.get("status", "")),
            job_type=query.get("job_type") or None,
            priority=_number("priority", query["priority"]) if query.get("priority") else None,
            group=query.get("group"),
            scheduled=None if not scheduled else scheduled == "true",
            metadata=_metadata(query.get("metadata", "")),
            order=ORDERS[order],
        )
        limit = _number("limit", query.get("limit", "0") or "0")
        return _page(await job_admin.list_jobs(wanted, limit, query.get("cursor", "")))

    async def enqueue(request: web.Request) -> web.Response:
        """A job enqueued from the dashboard, checked as EnqueueJob checks one."""
        body = await bodies.json_object(request, NEW_JOB_FIELDS, NEW_JOB)
        if "job_type" not in body:
            raise InvalidJob(f"job_type is missing; {NEW_JOB}")
        [enqueued] = await producer.enqueue(
            [
                JobRequest(
                    body["job_type"],
                    body.get("payload", "{}"),
                    priority=body.get("priority", 0),
                    scheduled_in=float(body.get("scheduled_in", 0.0)),
                )
            ]
        )
        return web.json_response({"id": enqueued.job_id}, status=201)

    async def bulk_action(request: web.Request) -> web.Response:
        """Cancel, re-queue or delete the jobs named or every job a filter matches: with
        count_only, how many it would change (what the operator confirms)."""
        body = await bodies.json_object(request, BULK_FIELDS, BULK)
        if "action" not in body:
            raise InvalidJob(f"action is missing; {BULK}")
        selection = JobSelection(
            tuple(body.get("job_ids", ())),
            JobQuery(
                status=_status(body.get("status", "")),
                job_type=body.get("job_type") or None,
                priority=body.get("priority"),
                group=body.get("group"),
                scheduled=body.get("scheduled"),
                metadata=_metadata(body.get("metadata", "")),
            ),
            body.get("all", False),
        )
        if body.get("count_only", False):
            return web.json_response(
                {"action": body["action"], "matched": await bulk.count(body["action"], selection)}
            )
        changed = await bulk.apply(body["action"], selection)
        return web.json_response({"action": body["action"], "changed": changed})

    async def job(request: web.Request) -> web.Response:
        return web.json_response(views.job(await job_admin.get(request.match_info["job_id"])))

    async def act(request: web.Request) -> web.Response:
        """An action on one job that fits its state: cancel, run now, delete."""
        await bodies.json_object(request, {}, NO_FIELDS)
        job_id, action = request.match_info["job_id"], request.match_info["action"]
        if action == "delete":
            await job_admin.delete(job_id)
            return web.json_response({"id": job_id, "deleted": True})
        moves = {"cancel": job_admin.cancel, "run-now": job_admin.run_now}
        if action not in moves:
            return web.json_response(
                {"error": f"no action {action!r}: cancel, run-now or delete"}, status=404
            )
        [outcome] = await moves[action]([job_id])
        return web.json_response(views.job(outcome.unwrap()))

    async def requeue(request: web.Request) -> web.Response:
        await bodies.json_object(request, {}, NO_FIELDS)
        [outcome] = await job_admin.requeue_dead([request.match_info["job_id"]])
        return web.json_response(views.job(outcome.unwrap()))

    async def purge(request: web.Request) -> web.Response:
        return web.json_response({"purged": await queue_admin.purge_dead(await _selection(request))})

    async def requeue_many(request: web.Request) -> web.Response:
        return web.json_response({"requeued": await queue_admin.requeue_dead(await _selection(request))})

    async def pause(request: web.Request) -> web.Response:
        await bodies.json_object(request, {}, NO_FIELDS)
        await queue_admin.pause(request.match_info["job_type"])
        return web.json_response({"paused": True})

    async def resume(request: web.Request) -> web.Response:
        await bodies.json_object(request, {}, NO_FIELDS)
        await queue_admin.resume(request.match_info["job_type"])
        return web.json_response({"paused": False})

    async def schedule_list(request: web.Request) -> web.Response:
        return web.json_response([views.schedule(s) for s in await schedules.schedules()])

    async def schedule_pause(request: web.Request) -> web.Response:
        await bodies.json_object(request, {}, NO_FIELDS)
        paused = await schedules.pause(request.match_info["name"])
        return web.json_response(views.schedule(paused))

    async def schedule_resume(request: web.Request) -> web.Response:
        await bodies.json_object(request, {}, NO_FIELDS)
        resumed = await schedules.resume(request.match_info["name"])
        return web.json_response(views.schedule(resumed))

    async def charts(request: web.Request) -> web.Response:
        """The charts' points: the last hour a minute each, or the last day ten minutes each."""
        hours = _number("hours", request.query.get("hours", "1") or "1")
        chart = await history.chart(hours, request.query.get("job_type") or None)
        return web.json_response(views.chart(chart))

    async def limit_list(request: web.Request) -> web.Response:
        return web.json_response([views.limit(usage) for usage in await limits.usage()])

    async def limit_clear(request: web.Request) -> web.Response:
        await bodies.json_object(request, {}, NO_FIELDS)
        job_type = request.match_info["job_type"]  # sent URL-encoded: "/" as %2F
        return web.json_response({"job_type": job_type, "cleared": await limits.clear_limit(job_type)})

    app.add_routes(
        [
            web.get("/", index),
            web.get("/login", login_form),
            web.post("/login", login_post),
            web.get("/healthz", healthz),
            web.get("/metrics", prometheus),
            web.get("/api/queues", queues),
            web.get("/api/workers", workers),
            web.get("/api/dead", dead),
            web.get("/api/jobs", jobs),
            web.post("/api/jobs", enqueue),
            web.post("/api/jobs/bulk", bulk_action),
            web.get("/api/jobs/{job_id}", job),
            web.post("/api/jobs/{job_id}/{action}", act),
            web.post("/api/dead/purge", purge),
            web.post("/api/dead/requeue", requeue_many),
            web.post("/api/dead/{job_id}/requeue", requeue),
            web.post("/api/queues/{job_type}/pause", pause),
            web.post("/api/queues/{job_type}/resume", resume),
            web.get("/api/schedules", schedule_list),
            web.post("/api/schedules/{name}/pause", schedule_pause),
            web.post("/api/schedules/{name}/resume", schedule_resume),
            web.get("/api/limits", limit_list),
            web.get("/api/history", charts),
            web.post("/api/limits/{job_type}/clear", limit_clear),
        ]
    )
    return app


def _page(page: Page) -> web.Response:
    """A page of jobs as listed (a page is cut by size in storage, JobAdmin's byte
    budget; the listing leaves the payloads out: /api/jobs/{id} has a job's whole record)."""
    return web.json_response({"jobs": [views.listed(j) for j in page.jobs], "next_cursor": page.next_cursor})


def _status(text: str) -> JobStatus | None:
    if not text:
        return None
    found = JOB_STATUSES.get(text)
    if found is None:
        raise InvalidJob(f"status must be one of {', '.join(JOB_STATUSES)}; got {text!r}")
    return found


def _metadata(text: str) -> tuple[str, str] | None:
    """A metadata filter, ``key=value`` (the value may hold "=")."""
    if not text:
        return None
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise InvalidJob(f"metadata must be key=value; got {text!r}")
    return key, value


def _number(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidJob(f"{name} must be a whole number; got {text!r}") from None


async def _selection(request: web.Request) -> DeadLetterSelection:
    body = await bodies.json_object(request, SELECTION_FIELDS, SELECTION)
    return DeadLetterSelection(
        tuple(body.get("job_ids", ())), body.get("job_type", ""), body.get("all", False)
    )


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except StackduckError as exc:
        status = next((code for kind, code in STATUS_OF if isinstance(exc, kind)), 500)
        return web.json_response({"error": str(exc)}, status=status)


@dataclass(frozen=True)
class Tokens:
    """Who may do what on the HTTP server: the token that may change things
    (STACKDUCK_AUTH_TOKEN) and the one that may only look (STACKDUCK_READONLY_TOKEN)."""

    full: str | None
    readonly: str | None = None

    def role(self, given: str) -> str | None:
        """ "full" or "read-only" for a token given, None for any other."""
        for role, token in (("full", self.full), ("read-only", self.readonly)):
            if token is not None and hmac.compare_digest(given.encode(), token.encode()):
                return role
        return None


def fingerprint(token: str) -> str:
    """Which token, for the log, without the token: its SHA-256's first 8 hex digits."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def _authenticate(tokens: Tokens) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if tokens.full is None or request.path in OPEN_PATHS:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        bearer = header[len("Bearer ") :] if header.startswith("Bearer ") else ""
        cookie = request.cookies.get(COOKIE, "")
        by_header = tokens.role(bearer) if bearer else None
        by_cookie = tokens.role(cookie) if cookie else None
        role = by_header or by_cookie
        if role is None:
            if request.path == "/":
                raise web.HTTPSeeOther("/login")
            return web.json_response(
                {"error": "this server needs `Authorization: Bearer <token>` (STACKDUCK_AUTH_TOKEN)"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="stackduck"'},
            )
        if request.method == "GET":
            return await handler(request)
        if by_cookie and not by_header and request.headers.get(CSRF_HEADER) != "1":
            return web.json_response({"error": f"send the {CSRF_HEADER}: 1 header with changes"}, status=403)
        who = f"the {role} token {fingerprint(bearer if by_header else cookie)}"
        if role != "full":
            log.warning("refused %s %s to %s: it may only look", request.method, request.path, who)
            return web.json_response(
                {
                    "error": "this token is read-only (STACKDUCK_READONLY_TOKEN): it sees everything and "
                    "changes nothing; use STACKDUCK_AUTH_TOKEN to make changes"
                },
                status=403,
            )
        response = await handler(request)
        log.info("%s %s by %s: %d", request.method, request.path, who, response.status)
        return response

    return middleware
