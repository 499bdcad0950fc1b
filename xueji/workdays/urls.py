from django.urls import path

from . import views

app_name = "workdays"
urlpatterns = [
    path("", views.years_view, name="years"),
    path("load/", views.load_view, name="load"),
    path("<int:year>/", views.year_view, name="year"),
]
