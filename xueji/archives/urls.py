from django.urls import path

from . import views

app_name = "archives"
urlpatterns = [
    path("students/<int:student_id>/", views.student_archive, name="student"),
    path("students/<int:student_id>/paper/", views.paper_register_view, name="paper"),
    path("documents/<int:document_id>/download/", views.document_download, name="download"),
    path("backups/", views.backup_list, name="backups"),
    path("backups/<int:backup_id>/", views.backup_detail_view, name="backup"),
    path(
        "backups/<int:backup_id>/documents/<int:document_id>/download/",
        views.backup_download,
        name="backup_download",
    ),
]
