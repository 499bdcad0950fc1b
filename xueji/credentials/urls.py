from django.urls import path

from . import views

app_name = "credentials"
urlpatterns = [
    path(".well-known/jwks.json", views.jwks_view, name="jwks"),
    path(".well-known/jwt-vc-issuer", views.issuer_metadata_view, name="issuer_metadata"),
    path("credentials/status/<int:number>", views.status_list_view, name="status_list"),
    path("credentials/verify", views.verify_endpoint, name="verify"),
    path("credentials/verifier/", views.verifier_page, name="verifier"),
]
