"""Binds each request's origin (IP, client, channel) for the audit trail."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import context


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        channel = "api" if request.path.startswith("/api/") else "web"
        token = context.bind(
            context.RequestContext(
                ip=request.META.get("REMOTE_ADDR") or None,
                user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
                channel=channel,
                request_id=request.headers.get("X-Request-ID", "")[:64] or context.new_request_id(),
            )
        )
        try:
            return self.get_response(request)
        finally:
            context.reset(token)
