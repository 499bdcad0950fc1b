from django.urls import path

from . import views

app_name = "verification"
urlpatterns = [
    path("", views.campaign_list_view, name="list"),
    path("new/", views.campaign_open_view, name="new"),
    path("<int:campaign_id>/", views.progress_view, name="progress"),
    path("<int:campaign_id>/close/", views.campaign_close_view, name="close"),
    path("<int:campaign_id>/schools/<int:school_id>/", views.roll_view, name="roll"),
    path("<int:campaign_id>/roll/open/", views.roll_open_view, name="roll_open"),
    path("<int:campaign_id>/roll/mark/", views.mark_view, name="mark"),
    path("<int:campaign_id>/roll/all-present/", views.all_present_view, name="all_present"),
    path("<int:campaign_id>/roll/sign-off/", views.sign_off_view, name="sign_off"),
]
