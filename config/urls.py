"""URL configuration: the pages, the one NinjaAPI under /api/, and health."""

from django.http import HttpRequest, JsonResponse
from django.urls import include, path

from .api import api


def health(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path("api/", api.urls),
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
    path("portal/", include("xueji.portal.urls")),
    path("verification/", include("xueji.verification.urls")),
    path("anomalies/", include("xueji.anomalies.urls")),
    path("", include("xueji.web.urls")),
]
