from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ChangesConfig(AppConfig):
    name = "xueji.changes"
    verbose_name = _("学籍变动")
    label = "changes"
