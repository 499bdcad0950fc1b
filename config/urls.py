"""URL configuration: the pages, the one NinjaAPI under /api/, and health."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path, re_path
from django.views.decorators.csrf import csrf_exempt

from xueji.errors import NotFound

from .api import api


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
def api_not_found(request: HttpRequest) -> JsonResponse:
    """An /api/ path no operation matches (or an id that is not a number): the API's own
    404 body, not the HTML page."""
    error = NotFound()
    return JsonResponse(error.as_dict(), status=404, json_dumps_params={"ensure_ascii": False})


urlpatterns = [
    path("api/", api.urls),
    # Any rest of the path, newlines included (a "." would stop at one: Django's HTML 404).
    re_path(r"^api/", api_not_found, name="api_not_found"),
    path("healthz", health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("students/", include("xueji.students.urls")),
    path("schools/", include("xueji.schools.urls")),
    path("imports/", include("xueji.exchange.urls")),
    path("batches/", include("xueji.enrolment.urls")),
    path("accounts/", include("xueji.accounts.urls")),
    path("workdays/", include("xueji.workdays.urls")),
    path("warnings/", include("xueji.audit.urls")),
    path("audit/", include("xueji.audit.views_trail")),
    path("archives/", include("xueji.archives.urls")),
    path("changes/", include("xueji.changes.urls")),
    path("dropouts/", include("xueji.changes.urls_ledger")),
    path("rules/", include("xueji.changes.urls_rulesets")),
    path("portal/credential/", include("xueji.credentials.urls_portal")),
    path("portal/", include("xueji.portal.urls")),
    path("verification/", include("xueji.verification.urls")),
    path("anomalies/", include("xueji.anomalies.urls")),
    path("releases/", include("xueji.releases.urls")),
    path("", include("xueji.credentials.urls")),
    path("", include("xueji.web.urls")),
]
