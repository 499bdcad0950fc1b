from django.urls import path

from . import views_rulesets as views

app_name = "rulesets"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("versions/<int:ruleset_id>/", views.version_view, name="version"),
    # ``layer``: "national" or a two-digit province code.
    path("<str:layer>/edit/", views.edit_view, name="edit"),
]
