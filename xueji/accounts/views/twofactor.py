"""Account pages: twofactor (filled in by the security work)."""

urlpatterns: list = []
