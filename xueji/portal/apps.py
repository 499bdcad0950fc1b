from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    name = "xueji.portal"
    label = "portal"
    verbose_name = _("家长网上办理")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system check)
