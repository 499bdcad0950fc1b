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
    path("accounts/", include("xueji.accounts.urls")),
    path("", include("xueji.web.urls")),
]
