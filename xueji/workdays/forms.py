"""The form of the calendar page: a year from the State Council notice, typed as lines.

The form only parses; ``rules`` reads the lines and ``services.calendar_year_load``
validates, and every error (with its line number) is placed under its text area.
"""

from django import forms
from django.utils.translation import gettext_lazy as _

from xueji.web.forms import StyledForm

from . import rules


class YearLoadForm(StyledForm):
    year = forms.IntegerField(
        label=_("年份"), min_value=rules.FIRST_YEAR, max_value=rules.LAST_YEAR
    )
    notice = forms.CharField(
        label=_("通知标题或文号"),
        max_length=200,
        help_text=_("如：国务院办公厅关于2027年部分节假日安排的通知（国办发明电〔2026〕x号）"),
    )
    holidays = forms.CharField(
        label=_("放假安排"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        help_text=_(
            "每行一段放假期间：开始日期 结束日期 节日名称，如“2027-02-06 2027-02-14 春节”；"
            "只放一天可写“2027-01-01 元旦”。"
        ),
    )
    makeup_days = forms.CharField(
        label=_("调休上班日"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5, "spellcheck": "false"}),
        help_text=_("每行一个须上班的周六或周日，如“2027-02-20”。"),
    )
    replace = forms.BooleanField(
        label=_("替换已载入的年度（按新的通知更正，记入审计）"), required=False
    )

    def parsed(self) -> tuple[list[rules.HolidayRange], list[rules.MakeupDay]] | None:
        """The holiday periods and make-up days, or ``None`` with the line errors added."""
        holidays, errors = rules.parse_holiday_lines(self.cleaned_data["holidays"])
        makeups, makeup_errors = rules.parse_makeup_lines(self.cleaned_data["makeup_days"])
        self.add_field_errors(errors + makeup_errors)
        return None if errors or makeup_errors else (holidays, makeups)
