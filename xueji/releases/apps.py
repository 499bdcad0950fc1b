from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReleasesConfig(AppConfig):
    name = "xueji.releases"
    label = "releases"
    verbose_name = _("数据发布")
