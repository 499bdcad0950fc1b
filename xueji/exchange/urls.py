from django.urls import path

from . import views

app_name = "imports"
urlpatterns = [
    path("", views.student_import, name="new"),
    path("template.xlsx", views.student_template, name="template"),
    path("schools/", views.school_import, name="schools"),
    path("schools/template.xlsx", views.school_template, name="school_template"),
    path("jobs/", views.job_list, name="jobs"),
    path("jobs/<uuid:job_id>/", views.job_detail, name="detail"),
    path("jobs/<uuid:job_id>/progress/", views.job_progress, name="progress"),
    path("jobs/<uuid:job_id>/errors.csv", views.job_errors_csv, name="errors_csv"),
    path("jobs/<uuid:job_id>/errors.xlsx", views.job_errors_xlsx, name="errors_xlsx"),
]
