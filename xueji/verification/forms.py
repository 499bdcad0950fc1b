"""Forms of the campaign pages: opening a campaign, filtering a roll, signing off."""

from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from xueji import clock
from xueji.changes.rules import semester_of
from xueji.web.forms import StyledForm

from .rules import Mark, Semester


class CampaignOpenForm(StyledForm):
    """A national reviewer chooses the scope (the nation or one province); a province's
    reviewer opens for its own province only (no choice shown)."""

    province_code = forms.ChoiceField(label=_("范围"), required=False)
    school_year = forms.IntegerField(
        label=_("学年（按秋季所在年份）"), min_value=2000, max_value=2100
    )
    semester = forms.TypedChoiceField(
        label=_("学期"), choices=Semester.choices, coerce=int, initial=Semester.AUTUMN
    )
    # ISO format: a date input shows nothing for the locale's "2026/12/27".
    deadline = forms.DateField(
        label=_("签报截止日期"),
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )
    title = forms.CharField(label=_("名称（可留空，自动生成）"), max_length=128, required=False)

    def __init__(self, *args, scopes: list[tuple[str, str]], **kwargs) -> None:
        today = clock.today()
        year, semester = semester_of(today)
        kwargs.setdefault(
            "initial",
            {"school_year": year, "semester": semester, "deadline": today + timedelta(days=30)},
        )
        super().__init__(*args, **kwargs)
        field = self.fields["province_code"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = scopes
        if len(scopes) == 1:
            field.initial = scopes[0][0]
            field.widget = forms.HiddenInput()


class RollFilterForm(StyledForm):
    q = forms.CharField(
        label=_("姓名或学籍号"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"type": "search", "enterkeyhint": "search"}),
    )
    grade = forms.ChoiceField(label=_("年级"), required=False)
    class_name = forms.ChoiceField(label=_("班级"), required=False)
    mark = forms.ChoiceField(
        label=_("标记"), required=False, choices=[("", _("全部")), *Mark.choices]
    )

    def __init__(self, *args, grades: list[tuple[str, str]], classes: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        grade = self.fields["grade"]
        class_name = self.fields["class_name"]
        assert isinstance(grade, forms.ChoiceField) and isinstance(class_name, forms.ChoiceField)
        grade.choices = [("", _("全部年级")), *grades]
        class_name.choices = [("", _("全部班级")), *[(c, c) for c in classes]]


class SignOffForm(StyledForm):
    note = forms.CharField(
        label=_("签报说明（可选）"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
