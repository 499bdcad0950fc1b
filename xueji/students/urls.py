from django.urls import path

from . import views

app_name = "students"
urlpatterns = [
    path("", views.student_list_view, name="list"),
    path("register/", views.register, name="register"),
    path("register/check/", views.register_check, name="check"),
    path("<int:student_id>/", views.student_detail_view, name="detail"),
    path("<int:student_id>/reveal/", views.reveal, name="reveal"),
    path("<int:student_id>/correct/", views.correct, name="correct"),
]
