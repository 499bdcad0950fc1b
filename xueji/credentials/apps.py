from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CredentialsConfig(AppConfig):
    name = "xueji.credentials"
    label = "credentials"
    verbose_name = _("学生教育数字身份")

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the deploy checks)
