"""Account pages, one module per area; accounts/urls.py gathers their urlpatterns."""
