from django.urls import path

from . import views

app_name = "changes"
urlpatterns = [
    path("", views.request_list_view, name="list"),
    path("queue/", views.queue_view, name="queue"),
    path("transfer/new/", views.transfer_new, name="transfer_new"),
    path("new/", views.change_new, name="new"),
    path("<int:request_id>/", views.request_detail_view, name="detail"),
    path("<int:request_id>/withdraw/", views.withdraw, name="withdraw"),
    path("<int:request_id>/materials/", views.materials_add, name="materials_add"),
    path("materials/<int:material_id>/", views.material_download, name="material"),
    path("steps/<int:step_id>/approve/", views.step_approve, name="approve"),
    path("steps/<int:step_id>/refuse/", views.step_refuse, name="refuse"),
]
