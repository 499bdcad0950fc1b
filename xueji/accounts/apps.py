from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "xueji.accounts"
    label = "accounts"
    verbose_name = _("账号与单位")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the deployment checks)
