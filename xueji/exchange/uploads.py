"""The import upload's size limit, enforced while the body streams in.

Django reads a whole multipart body (spooling files to disk) before a view sees it, so a
size check in the view comes after a 2 GB upload has arrived. This middleware refuses an
import upload whose declared ``Content-Length`` is over the limit before reading any of
it, and otherwise installs an upload handler that stops reading as soon as the file passes
the limit (a body sent without a length, or one that lies, is caught there).
"""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _

from xueji.request_guard import malformed_body

# The import uploads: the two pages and the API endpoint (url names).
LIMITED = frozenset({"imports:new", "imports:schools", "api:submit_import"})
# Room for the multipart framing and the form's other fields around the file.
MULTIPART_SLACK = 64 * 1024


def too_large_message(limit: int) -> str:
    return _("文件超过 %(limit).1f MB 的上限，未被接收。请分批导入（拆分为多个文件）。") % {
        "limit": limit / 1048576
    }


class SizeLimitUploadHandler(FileUploadHandler):
    """Stops the upload once a file passes ``limit`` bytes; ``exceeded`` tells the caller."""

    def __init__(self, request: HttpRequest, limit: int) -> None:
        super().__init__(request)
        self.limit = limit
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        if start + len(raw_data) > self.limit:
            self.exceeded = True
            # connection_reset: Django stops reading the body instead of draining it.
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the file


def _url_name(request: HttpRequest) -> str:
    try:
        return resolve(request.path_info).view_name
    except Resolver404:
        return ""


def _refuse(request: HttpRequest, view_name: str, limit: int) -> HttpResponse:
    message = too_large_message(limit)
    if view_name.startswith("api:"):
        return JsonResponse(
            {
                "code": "file.too_large",
                "message": message,
                "errors": [{"field": "file", "code": "file.too_large", "message": message}],
            },
            status=413,
            json_dumps_params={"ensure_ascii": False},
        )
    messages.error(request, message)
    return HttpResponseRedirect(request.get_full_path())


class ImportUploadLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            view_name = _url_name(request)
            if view_name in LIMITED:
                limit = settings.XUEJI["IMPORT_MAX_BYTES"]
                try:
                    declared = int(request.META.get("CONTENT_LENGTH") or 0)
                except ValueError:
                    declared = 0
                if declared > limit + MULTIPART_SLACK:
                    return _refuse(request, view_name, limit)
                handler = SizeLimitUploadHandler(request, limit)
                request.upload_handlers = [handler, *request.upload_handlers]
                try:
                    request.FILES  # noqa: B018 - parse now, through the handler
                except MultiPartParserError as exc:
                    return malformed_body(request, exc)
                if handler.exceeded:
                    return _refuse(request, view_name, limit)
        return self.get_response(request)
