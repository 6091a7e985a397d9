"""One mapping between bosun's exception tree and RFC 9457 problem documents.

The server turns an exception into `application/problem+json` with `problem_for`; the HTTP
client turns a problem document back into the same exception class with `error_for`.
"""

from __future__ import annotations

from typing import Any

from bosun import errors

PROBLEM_TYPE_PREFIX = "urn:bosun:problem:"
PROBLEM_CONTENT_TYPE = "application/problem+json"

# (exception class, HTTP status, slug, title). First match wins: subclasses before parents.
_TABLE: tuple[tuple[type[errors.BosunError], int, str, str], ...] = (
    (errors.PayloadTooLarge, 413, "payload-too-large", "Payload too large"),
    (errors.WorkflowNotFound, 404, "workflow-not-found", "Workflow not found"),
    (errors.ScheduleNotFound, 404, "schedule-not-found", "Schedule not found"),
    (errors.InvalidArguments, 422, "invalid-arguments", "Invalid workflow inputs"),
    (errors.InvalidSchedule, 422, "invalid-schedule", "Invalid schedule"),
    (errors.InvalidRequest, 400, "invalid-request", "Invalid request"),
    # A body of the wrong shape (the server's validation answer; never chosen by problem_for).
    (errors.InvalidRequest, 422, "validation-error", "Invalid request"),
    (errors.SerializationError, 422, "serialization-error", "Value cannot be serialised"),
    (errors.IdempotencyConflict, 409, "idempotency-conflict", "Idempotency key in use"),
    (errors.ConfigurationError, 400, "configuration-error", "Invalid request"),
    (errors.RunNotFound, 404, "run-not-found", "Run not found"),
    (errors.SessionNotFound, 404, "session-not-found", "Session not found"),
    (errors.ApprovalNotFound, 404, "approval-not-found", "No such pending approval"),
    (errors.SessionBusy, 409, "session-busy", "The session has an unfinished run"),
    (errors.ApprovalDecided, 409, "approval-decided", "Tool call already decided"),
    (errors.InvalidRunState, 409, "invalid-run-state", "Operation does not apply to the run"),
    (errors.ResultTimeout, 408, "result-timeout", "Run still unfinished"),
    (errors.AuthenticationFailed, 401, "unauthenticated", "Authentication required"),
    (errors.PermissionDenied, 403, "forbidden", "Missing scope"),
    (errors.RateLimited, 429, "rate-limited", "Too many requests"),
    (errors.StoreUnavailable, 503, "store-unavailable", "Database unavailable"),
    (errors.SchemaTooNew, 503, "schema-too-new", "Database schema newer than this server"),
    (errors.StoreError, 500, "store-error", "Database error"),
    (errors.RunFailed, 422, "run-failed", "Run failed"),
    (errors.RunCancelled, 409, "run-cancelled", "Run cancelled"),
    (errors.ServiceError, 500, "internal", "Internal server error"),
)
_BY_SLUG = {slug: (cls, status) for cls, status, slug, _ in _TABLE}


def problem_for(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and problem document for an exception; unknown ones are a 500 that
    reveals nothing about the server's internals."""
    for cls, status, slug, title in _TABLE:
        if isinstance(exc, cls):
            body: dict[str, Any] = {
                "type": PROBLEM_TYPE_PREFIX + slug,
                "title": title,
                "status": status,
                "detail": str(exc),
            }
            if isinstance(exc, errors.RateLimited) and exc.retry_after is not None:
                body["retry_after"] = exc.retry_after
            return status, body
    return 500, problem(500, "internal", "Internal server error", "the server failed; see its log")


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    """A problem document for a case with no exception class (e.g. 404 for an unknown path)."""
    return {
        "type": PROBLEM_TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


def error_for(status: int, body: Any) -> errors.BosunError:
    """The exception a client raises for an error response (a problem document or not)."""
    detail = f"HTTP {status}"
    slug = ""
    if isinstance(body, dict):
        detail = str(body.get("detail") or body.get("title") or detail)
        kind = str(body.get("type", ""))
        slug = (
            kind.removeprefix(PROBLEM_TYPE_PREFIX) if kind.startswith(PROBLEM_TYPE_PREFIX) else ""
        )
    known = _BY_SLUG.get(slug)
    if known is not None:
        cls = known[0]
        if cls is errors.RateLimited:
            retry = body.get("retry_after") if isinstance(body, dict) else None
            return errors.RateLimited(detail, None if retry is None else float(retry))
        if cls is errors.RunFailed:
            return errors.ServiceError(detail)
        try:
            return cls(detail)
        except TypeError:  # classes whose constructor takes structured arguments
            return errors.ServiceError(detail)
    if status == 401:
        return errors.AuthenticationFailed(detail)
    if status == 403:
        return errors.PermissionDenied(detail)
    if status == 404:  # not a bosun answer about a run: most likely a wrong URL
        return errors.ServiceError(f"{detail} (HTTP 404: is the server URL right?)")
    if status == 429:
        return errors.RateLimited(detail)
    if status in (400, 413, 415, 422):
        return errors.InvalidRequest(detail)
    return errors.ServiceError(detail)
