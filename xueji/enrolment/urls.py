from django.urls import path

from . import views

app_name = "batches"
urlpatterns = [
    path("", views.run_list, name="list"),
    path("promote/", views.promotion_new, name="promote"),
    path("graduate/", views.graduation_new, name="graduate"),
    path("<int:run_id>/", views.run_detail, name="detail"),
    path("<int:run_id>/progress/", views.run_progress, name="progress"),
    path("<int:run_id>/confirm/", views.run_confirm, name="confirm"),
    path("<int:run_id>/resume/", views.run_resume, name="resume"),
]
