"""Where a request came from, carried to the audit trail without threading it through calls."""

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    channel: str = "system"  # web | api | cli | task | system
    request_id: str = ""


_current: ContextVar[RequestContext] = ContextVar("xueji_request_context", default=RequestContext())  # noqa: B039 - frozen


def current() -> RequestContext:
    return _current.get()


def bind(context: RequestContext):
    """Set the context; returns a token for ``reset``."""
    return _current.set(context)


def reset(token) -> None:
    _current.reset(token)


def new_request_id() -> str:
    return uuid.uuid4().hex
