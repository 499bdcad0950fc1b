from django.urls import path

from . import views

app_name = "schools"
urlpatterns = [
    path("", views.school_list_view, name="list"),
    path("new/", views.school_create_view, name="create"),
    path("<int:school_id>/", views.school_detail_view, name="detail"),
    path("<int:school_id>/edit/", views.school_edit_view, name="edit"),
]
