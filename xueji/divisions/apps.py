from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DivisionsConfig(AppConfig):
    name = "xueji.divisions"
    label = "divisions"
    verbose_name = _("行政区划与代码表")
