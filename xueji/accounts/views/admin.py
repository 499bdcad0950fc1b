"""Account pages: admin (filled in by the security work)."""

urlpatterns: list = []
