"""Inputs no view can store, refused before any view sees them.

A NUL character is valid in a URL, a form field and a JSON string, but PostgreSQL text
cannot hold it (psycopg raises ``DataError``) and SQLite truncates at it in places. Django
forms refuse it field by field; query parameters, API schemas and hand-read fields did
not (an outside fuzzer got a server error from a NUL in a graduation plan). This one check
covers every string input of every request: the query string, form fields, uploaded file
names and every string in a JSON body. The same walk refuses integers beyond 64 bits
(SQLite raises ``OverflowError`` on them, PostgreSQL "out of range"): the OpenAPI document
declares every integer as int64 (config/api.py). A multipart body Django cannot parse (no boundary)
is refused here too, instead of failing inside whichever view first touches it.

API requests get the API's error body (``code``, ``message``, ``errors``) with 422 for
a NUL or an out-of-range integer and 400 for a malformed body; pages get a plain 400.
"""

import json
import re
from collections.abc import Callable, Iterator
from urllib.parse import parse_qsl

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _

# Integers the database stores (64-bit); the OpenAPI document declares the same bounds.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_INTEGER = re.compile(r"[+-]?\d+")
# A date-time's UTC offset: Python takes up to ±23:59, PostgreSQL only ±15:59 ("time zone
# displacement out of range"); real zones stay within ±14:00.
_OFFSET = re.compile(r"\d{4}-\d\d-\d\d[T ].*[+-](\d\d):?(\d\d)$")
MAX_OFFSET_HOURS = 14


def _too_big(value) -> bool:
    """An integer beyond 64 bits or a date-time with an offset no time zone has."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return not INT64_MIN <= value <= INT64_MAX
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 18 and _INTEGER.fullmatch(text):
            return not INT64_MIN <= int(text) <= INT64_MAX
        offset = _OFFSET.match(text) if len(text) >= 16 else None
        if offset:
            return int(offset[1]) * 60 + int(offset[2]) > MAX_OFFSET_HOURS * 60
    return False


def _values(value, path: str) -> Iterator[tuple[str, object]]:
    """(location, value) for every key and scalar inside a parsed JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            yield where, str(key)
            yield from _values(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _values(item, f"{path}[{index}]")
    else:
        yield path, value


def _bad_field(request: HttpRequest) -> tuple[str, str] | None:
    """("nul" or "range", the input's name) for the first input no view can store."""
    query = request.META.get("QUERY_STRING", "")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if "\x00" in key or "\x00" in value:
            return "nul", key.replace("\x00", "") or "query"
        if _too_big(value):
            return "range", key
    if "%00" in query:
        return "nul", "query"
    if "\x00" in request.path:
        return "nul", "path"
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    content_type = request.content_type or ""
    if content_type == "application/json":
        try:
            payload = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            return None  # the view's parser reports malformed JSON
        for location, value in _values(payload, ""):
            if isinstance(value, str) and "\x00" in value:
                return "nul", location or "body"
            if _too_big(value):
                return "range", location or "body"
        return None
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        for key, values in request.POST.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return "nul", key.replace("\x00", "")
            if any(_too_big(value) for value in values):
                return "range", key
            for value in values:
                # A JSON document in a form field (the filing's "payload") can spell a NUL
                # as \u0000.
                if value[:1] in ("{", "[") and "\\u0000" in value:
                    return "nul", key
        for key, uploads in request.FILES.lists():
            if any("\x00" in (upload.name or "") for upload in uploads):
                return "nul", key
    return None


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


class RequestGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            bad = _bad_field(request)
        except MultiPartParserError as exc:
            return malformed_body(request, exc)
        if bad is None:
            return self.get_response(request)
        kind, field = bad
        if kind == "nul":
            message = _("“%s”含有空字符（NUL，\\0），不能接收。请删除该字符后重新提交。") % field
            return refuse(request, 422, "input.nul", message, field)
        message = (
            _("“%s”的值超出范围（整数应在 -2^63 至 2^63-1 之间，时区偏移不超过 ±14:00）。") % field
        )
        return refuse(request, 422, "input.out_of_range", message, field)


def malformed_body(request: HttpRequest, exc: Exception) -> HttpResponse:
    message = _("请求正文格式错误（multipart 缺少边界或无法解析）：%s") % str(exc)[:100]
    return refuse(request, 400, "request.malformed", message, "body")


def refuse(request: HttpRequest, status: int, code: str, message: str, field: str) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {
                "code": code,
                "message": message,
                "errors": [{"field": field, "code": code, "message": message}],
            },
            status=status,
            json_dumps_params={"ensure_ascii": False},
        )
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
