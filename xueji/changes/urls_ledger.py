from django.urls import path

from . import views_ledger as views

app_name = "dropouts"
urlpatterns = [
    path("", views.case_list, name="list"),
    path("<int:case_id>/", views.case_detail, name="detail"),
    path("<int:case_id>/follow-up/", views.follow_up_add, name="follow_up"),
    path("<int:case_id>/close/", views.case_close, name="close"),
]
