from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnomaliesConfig(AppConfig):
    name = "xueji.anomalies"
    label = "anomalies"
    verbose_name = _("异常检测")
