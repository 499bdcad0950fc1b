"""Forms of the dropout-control ledger's pages. They shape the input; the ledger's services
check it (their errors come back on these fields)."""

from django import forms
from django.utils.translation import gettext_lazy

from xueji.web.forms import StyledForm

from . import ledger
from .models import DropoutCaseState, FollowUpMethod


class CaseFilterForm(StyledForm):
    q = forms.CharField(
        label=gettext_lazy("查找"),
        required=False,
        max_length=64,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": gettext_lazy("学籍号或姓名（精确）")}
        ),
    )
    state = forms.ChoiceField(
        label=gettext_lazy("状态"),
        required=False,
        choices=[("", gettext_lazy("全部")), *DropoutCaseState.choices],
    )


class FollowUpForm(StyledForm):
    """Only shapes the input: ``dropout_follow_up_add`` checks it."""

    on = forms.DateField(
        label=gettext_lazy("跟进日期"), widget=forms.DateInput(attrs={"type": "date"})
    )
    method = forms.ChoiceField(
        label=gettext_lazy("方式"), choices=[("", "—"), *FollowUpMethod.choices]
    )
    result = forms.CharField(
        label=gettext_lazy("跟进结果"),
        max_length=ledger.RESULT_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    next_step = forms.CharField(
        label=gettext_lazy("下一步措施"), required=False, max_length=ledger.NEXT_STEP_MAX
    )


class CloseForm(StyledForm):
    reason = forms.CharField(
        label=gettext_lazy("销号原因"),
        max_length=ledger.REASON_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy("学生复学时台账自动销号；此处用于其他原因，如随家庭迁居境外"),
    )
