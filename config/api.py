"""The one NinjaAPI: /api/, OpenAPI document at /api/openapi.json, docs at /api/docs."""

from functools import wraps

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


api = NinjaAPI(
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
