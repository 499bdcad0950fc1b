"""Account pages: signin (filled in by the security work)."""

urlpatterns: list = []
