"""Forms of the anomaly pages: the queue's filter, the verdicts, the attendance upload."""

from django import forms
from django.utils.translation import gettext_lazy as _

from xueji.web.forms import StyledForm

from .rules import FindingKind, FindingState
from .services import REASON_MAX, REASON_MIN


class FilterForm(StyledForm):
    q = forms.CharField(
        label=_("姓名或学籍号"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"type": "search", "enterkeyhint": "search"}),
    )
    kind = forms.ChoiceField(
        label=_("类别"), required=False, choices=[("", _("全部类别")), *FindingKind.choices]
    )
    state = forms.ChoiceField(
        label=_("状态"),
        required=False,
        choices=[*FindingState.choices, ("all", _("全部状态"))],
    )


class ReasonForm(StyledForm):
    # Required by the service (its message), not by the form: one error, not two. The
    # browser asks for it first (marked, and required in the markup), so a phone user is
    # not sent through the confirmation only to be refused.
    marked_required = frozenset({"reason"})
    reason = forms.CharField(
        label=_("理由"),
        required=False,
        max_length=REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2, "required": True, "minlength": REASON_MIN}),
    )


class MergeForm(StyledForm):
    survivor_id = forms.TypedChoiceField(
        label=_("保留的学籍"), coerce=int, widget=forms.RadioSelect
    )
    reason = forms.CharField(
        label=_("说明"),
        max_length=REASON_MAX,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, choices=(), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        survivor = self.fields["survivor_id"]
        assert isinstance(survivor, forms.ChoiceField)
        survivor.choices = list(choices)
        # Radio buttons carry Bootstrap's check class, not the text-field class.
        survivor.widget.attrs["class"] = "form-check-input"


class SightingUploadForm(StyledForm):
    file = forms.FileField(
        label=_("在校名单（csv 或 xlsx）"),
        help_text=_("列：学籍号、学校标识码、在校日期（YYYY-MM-DD），可加姓名。"),
    )
    source = forms.CharField(
        label=_("来源"),
        max_length=128,
        required=False,
        help_text=_("例如：某区学生考勤系统 2025 年 11 月导出"),
    )
