"""Account pages: security (filled in by the security work)."""

urlpatterns: list = []
