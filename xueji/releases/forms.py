from dataclasses import replace
from datetime import timedelta

from django import forms
from django.utils.translation import gettext_lazy as _

from xueji import clock
from xueji.enrolment.rules import StatusState
from xueji.errors import FieldError
from xueji.web.forms import StyledForm

from .rules import (
    FIELDS,
    BasisKind,
    BirthGeneralisation,
    GovernmentLevel,
    IdentifierMethod,
    OutputFormat,
    ReleaseKind,
)

STAGES = (("1", _("小学")), ("2", _("初中")), ("3", _("高中")))


class ReleaseRequestForm(StyledForm):
    """Only shapes the input: the service checks every rule (its errors come back on these
    fields)."""

    purpose = forms.CharField(
        label=_("用途"), widget=forms.Textarea(attrs={"rows": 3}), required=False
    )
    basis_kind = forms.ChoiceField(label=_("依据"), choices=BasisKind.choices)
    basis_law = forms.CharField(
        label=_("法律条款"),
        max_length=255,
        required=False,
        help_text=_("依据法律规定时填写，如《中华人民共和国统计法》第七条"),
    )
    basis_authority = forms.CharField(
        label=_("批准机关"), max_length=128, required=False, help_text=_("如××县人民政府")
    )
    basis_level = forms.ChoiceField(
        label=_("批准机关级别"), choices=[("", "—"), *GovernmentLevel.choices], required=False
    )
    basis_document_no = forms.CharField(label=_("批准文号"), max_length=64, required=False)
    basis_document = forms.FileField(
        label=_("批准文件"),
        required=False,
        help_text=_("人民政府批准时上传：PDF、JPG 或 PNG，不超过 10 MB"),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )
    kind = forms.ChoiceField(label=_("发布形式"), choices=ReleaseKind.choices)
    # Not "fields": that name is the form's own.
    columns = forms.MultipleChoiceField(
        label=_("字段"),
        choices=list(FIELDS.items()),
        required=False,
        help_text=_("姓名、学籍号、身份证件号等直接标识符一律不发布"),
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    area_code = forms.CharField(
        label=_("范围：行政区划代码"),
        max_length=6,
        required=False,
        help_text=_("留空为本单位管辖范围"),
    )
    school_code = forms.CharField(label=_("范围：学校标识码"), max_length=10, required=False)
    stages = forms.MultipleChoiceField(
        label=_("学段"),
        choices=STAGES,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 3}),
    )
    grades = forms.CharField(
        label=_("年级代码"),
        max_length=64,
        required=False,
        help_text=_("多个用逗号分隔，留空为全部"),
    )
    states = forms.MultipleChoiceField(
        label=_("学籍状态"),
        choices=StatusState.choices,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )
    identifiers = forms.ChoiceField(label=_("直接标识符"), choices=IdentifierMethod.choices)
    birth = forms.ChoiceField(label=_("出生日期泛化"), choices=BirthGeneralisation.choices)
    k = forms.IntegerField(label=_("k 匿名（每种组合至少 k 人）"), required=False, min_value=0)
    threshold = forms.IntegerField(label=_("统计表小单元格抑制阈值"), required=False, min_value=0)
    output_format = forms.ChoiceField(label=_("文件格式"), choices=OutputFormat.choices)
    recipient_organisation = forms.CharField(label=_("接收单位"), max_length=128, required=False)
    recipient_username = forms.CharField(
        label=_("接收人账号"), max_length=150, required=False, help_text=_("只有该账号可以下载")
    )
    expires_on = forms.DateField(
        label=_("下载截止日期"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    marked_required = frozenset(
        {"purpose", "columns", "recipient_organisation", "recipient_username", "expires_on"}
    )

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault(
            "initial",
            {
                "identifiers": IdentifierMethod.PSEUDONYM,
                "birth": BirthGeneralisation.YEAR,
                "expires_on": clock.today() + timedelta(days=30),
            },
        )
        super().__init__(*args, **kwargs)

    def add_field_errors(self, errors: list[FieldError]) -> None:
        super().add_field_errors(
            [replace(e, field="columns") if e.field == "fields" else e for e in errors]
        )


class DecisionForm(StyledForm):
    note = forms.CharField(
        label=_("意见"), max_length=255, required=False, help_text=_("不予通过时必须填写理由")
    )
