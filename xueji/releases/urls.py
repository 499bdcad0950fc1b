from django.urls import path

from . import views

app_name = "releases"
urlpatterns = [
    path("", views.release_list_view, name="list"),
    path("new/", views.release_new, name="new"),
    path("<int:release_id>/", views.release_detail, name="detail"),
    path("<int:release_id>/review/", views.release_review_view, name="review"),
    path("<int:release_id>/approve/", views.release_approve_view, name="approve"),
    path("<int:release_id>/download/", views.release_download, name="download"),
    path("<int:release_id>/basis/", views.release_basis, name="basis"),
]
