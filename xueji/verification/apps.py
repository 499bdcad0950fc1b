from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class VerificationConfig(AppConfig):
    name = "xueji.verification"
    verbose_name = _("学期核准")
    label = "verification"
