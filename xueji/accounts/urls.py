"""Account pages: sign-in steps, password, second factor, administration, security."""

from .views import admin, security, signin, twofactor

app_name = "accounts"
urlpatterns = [
    *signin.urlpatterns,
    *twofactor.urlpatterns,
    *admin.urlpatterns,
    *security.urlpatterns,
]
