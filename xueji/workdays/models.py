"""The statutory working-day calendar: one row per loaded year and one per day of it.

A year is loaded whole (every day of it has a row), so a missing day means a missing year:
deadline arithmetic refuses to guess across it (``rules.CalendarMissing``). Rows change
only through ``services.calendar_year_load`` (and the seeding data migration).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CalendarSource(models.TextChoices):
    LIBRARY = "chinesecalendar", _("chinesecalendar 软件包")
    NOTICE = "notice", _("国务院办公厅通知")


class CalendarYear(models.Model):
    """A loaded year: where its holidays and make-up working days came from, and who loaded it."""

    year = models.PositiveSmallIntegerField(_("年份"), primary_key=True)
    source = models.CharField(_("来源"), max_length=16, choices=CalendarSource.choices)
    # The State Council notice's title or number (国办发明电〔2026〕x号); blank for seeded years.
    notice = models.CharField(_("通知文号"), max_length=200, blank=True, default="")
    loaded_at = models.DateTimeField(_("载入时间"))
    # Plain values, as in the audit trail: removing an account never rewrites who loaded a year.
    loaded_by_id = models.BigIntegerField(_("载入人ID"), null=True, blank=True)
    loaded_by_username = models.CharField(_("载入人"), max_length=150, blank=True, default="")

    class Meta:
        verbose_name = _("工作日历年度")
        verbose_name_plural = _("工作日历年度")
        ordering = ["year"]

    def __str__(self) -> str:
        return str(self.year)


class CalendarDay(models.Model):
    """One day of a loaded year.

    ``name``: the holiday (春节, 国庆节 …) on a day off of a statutory holiday period,
    ``调休上班`` on a make-up working day, blank on an ordinary weekday or weekend.
    """

    date = models.DateField(_("日期"), primary_key=True)
    is_workday = models.BooleanField(_("工作日"))
    name = models.CharField(_("名称"), max_length=64, blank=True, default="")

    class Meta:
        verbose_name = _("日历日")
        verbose_name_plural = _("日历日")
        ordering = ["date"]

    def __str__(self) -> str:
        return self.date.isoformat()
