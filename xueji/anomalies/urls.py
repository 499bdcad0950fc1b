from django.urls import path

from . import views

app_name = "anomalies"
urlpatterns = [
    path("", views.finding_list_view, name="list"),
    path("quality/", views.quality_view, name="quality"),
    path("sightings/", views.sightings_view, name="sightings"),
    path("<int:finding_id>/", views.finding_detail_view, name="detail"),
    path("<int:finding_id>/merge/", views.finding_merge_view, name="merge_create"),
    path("<int:finding_id>/different/", views.finding_different_view, name="different"),
    path("<int:finding_id>/dismiss/", views.finding_dismiss_view, name="dismiss"),
    path("merges/<int:merge_id>/", views.merge_detail_view, name="merge"),
    path("merges/<int:merge_id>/undo/", views.merge_undo_view, name="merge_undo"),
]
