"""The one NinjaAPI: /api/, OpenAPI document at /api/openapi.json, docs at /api/docs."""

from functools import wraps
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, JsonResponse
from ninja import NinjaAPI

from xueji.accounts.api import ApiTokenAuth, UnitSession
from xueji.accounts.api import router as accounts_router
from xueji.accounts.api_twofactor import router as accounts_twofactor_router
from xueji.accounts.tokens import RateLimited
from xueji.divisions.api import router as divisions_router
from xueji.errors import DomainError
from xueji.exchange.api import router as exchange_router
from xueji.i18n import gettext_lazy_str as _
from xueji.request_guard import INT64_MAX, INT64_MIN
from xueji.schools.api import router as schools_router
from xueji.students.api import router as students_router


def docs_guard(view):
    """The documentation and the OpenAPI document follow ``XUEJI_API_DOCS`` (read per
    request): ``off`` answers 404, ``signed_in`` answers 401 to a visitor without a session,
    ``public`` lets anyone read them (development; production refuses it: xueji.deploy)."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs):
        mode = getattr(settings, "XUEJI_API_DOCS", "signed_in")
        if mode == "off":
            raise Http404
        if mode != "public" and not request.user.is_authenticated:
            return JsonResponse({"detail": "Unauthorized"}, status=401)
        return view(request, *args, **kwargs)

    return guarded


# Error answers every operation can give, beside its own success codes: the body is the
# domain error (code, message, errors[, detail]) or, for what the framework refuses before
# a view runs (a missing parameter, a failed sign-in), {"detail": ...}.
_ERRORS_ANY = {
    "400": _("请求格式错误（正文无法解析、multipart 缺少边界）"),
    "401": _("未认证：缺少或无效的令牌、会话"),
    "403": _("无权执行：角色或职责不允许"),
    "404": _("未找到，或不在您的管理范围内"),
    "422": _("参数或数据未通过校验（含空字符 NUL、超出范围的数值）"),
    "429": _("令牌请求过于频繁（见 Retry-After）"),
}
_ERRORS_WRITE = {"409": _("与当前状态冲突（如重复提交、已办结）")}
_ERRORS_UPLOAD = {"413": _("上传文件超过大小上限")}
_ERROR_SCHEMAS: dict[str, Any] = {
    "FieldErrorOut": {
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "code": {"type": "string"},
            "message": {"type": "string"},
            "value": {"type": "string"},
            "row": {"type": "integer"},
        },
        "required": ["field", "code", "message"],
    },
    "ErrorOut": {
        "anyOf": [
            {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "errors": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/FieldErrorOut"},
                    },
                    "detail": {"type": "object"},
                },
                "required": ["code", "message"],
            },
            {"type": "object", "properties": {"detail": {}}, "required": ["detail"]},
        ]
    },
}


def _bound_integers(node: Any) -> None:
    """Every integer the API takes is stored in 64 bits: say so (the request guard refuses
    larger ones, xueji/request_guard.py)."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            node.setdefault("format", "int64")
            node.setdefault("minimum", INT64_MIN)
            node.setdefault("maximum", INT64_MAX)
        for value in node.values():
            _bound_integers(value)
    elif isinstance(node, list):
        for value in node:
            _bound_integers(value)


def declare_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers to every operation of the OpenAPI document, and the 64-bit
    bounds to every integer."""
    _bound_integers(schema.get("paths", {}))
    _bound_integers(schema.get("components", {}).get("schemas", {}))
    schema.setdefault("components", {}).setdefault("schemas", {}).update(_ERROR_SCHEMAS)
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            codes = dict(_ERRORS_ANY)
            if method in ("post", "put", "patch", "delete"):
                codes.update(_ERRORS_WRITE)
            body = operation.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in body:
                codes.update(_ERRORS_UPLOAD)
            responses = operation.setdefault("responses", {})
            for code, description in codes.items():
                # ninja keys the responses by int; the JSON document has strings.
                if code not in responses and int(code) not in responses:
                    responses[int(code)] = {"description": str(description), "content": error}
    return schema


class XuejiAPI(NinjaAPI):
    def get_openapi_schema(self, **kwargs: Any) -> Any:
        return declare_errors(super().get_openapi_schema(**kwargs))


api = XuejiAPI(
    title=_("xueji 学籍管理 API"),
    version="1",
    description=_(
        "中小学生学籍管理系统接口。会话（页面登录）或 Bearer 令牌认证；超出管理范围的对象一律返回 404。"
    ),
    auth=[ApiTokenAuth(), UnitSession()],
    urls_namespace="api",
    docs_decorator=docs_guard,
)


@api.exception_handler(DomainError)
def domain_error(request: HttpRequest, exc: DomainError):
    return api.create_response(request, exc.as_dict(), status=exc.http_status)


@api.exception_handler(RateLimited)
def rate_limited(request: HttpRequest, exc: RateLimited):
    """429 with ``Retry-After`` (whole seconds, RFC 9110) for a token over its rate."""
    response = api.create_response(request, exc.as_dict(), status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response


api.add_router("", accounts_router)
api.add_router("", accounts_twofactor_router)
api.add_router("", "xueji.accounts.api_admin.router")
api.add_router("", divisions_router)
api.add_router("", schools_router)
api.add_router("", students_router)
api.add_router("", exchange_router)
api.add_router("", "xueji.workdays.api.router")
api.add_router("", "xueji.audit.api.router")
api.add_router("", "xueji.audit.api_trail.router")
api.add_router("", "xueji.archives.api.router")
api.add_router("", "xueji.changes.api_rulesets.router")
api.add_router("", "xueji.changes.api.router")
api.add_router("", "xueji.changes.api_ledger.router")
api.add_router("", "xueji.enrolment.api.router")
api.add_router("", "xueji.verification.api.router")
api.add_router("", "xueji.anomalies.api.router")
api.add_router("", "xueji.releases.api.router")
