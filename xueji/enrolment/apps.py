from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EnrolmentConfig(AppConfig):
    name = "xueji.enrolment"
    label = "enrolment"
    verbose_name = _("学籍")
