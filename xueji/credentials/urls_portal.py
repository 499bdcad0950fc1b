from django.urls import path

from . import views_portal

app_name = "wallet"
urlpatterns = [
    path("", views_portal.wallet_view, name="home"),
    path("issue/", views_portal.wallet_issue_view, name="issue"),
    path("present/", views_portal.wallet_present_view, name="present"),
    path("file/", views_portal.wallet_file_view, name="file"),
]
