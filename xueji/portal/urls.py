from django.urls import path

from . import views

app_name = "portal"
urlpatterns = [
    path("", views.signin_view, name="signin"),
    path("code/", views.code_view, name="code"),
    path("signout/", views.signout_view, name="signout"),
    path("home/", views.home_view, name="home"),
    path("apply/", views.apply_view, name="apply"),
    path("apply/destination/", views.destination_view, name="destination"),
    path("requests/<int:request_id>/", views.request_view, name="request"),
    path("requests/<int:request_id>/withdraw/", views.withdraw_view, name="withdraw"),
    path("requests/<int:request_id>/materials/", views.material_add_view, name="material_add"),
    path("outbox/", views.outbox_view, name="outbox"),
]
