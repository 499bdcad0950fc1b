"""Forms of the school pages. They parse and render; ``school_create``/``school_update``
validate, and their field errors are placed next to the fields."""

from django import forms
from django.utils.translation import gettext_lazy as _

from xueji.accounts.scope import Scope
from xueji.divisions.selectors import current_county_codes, division_full_name
from xueji.web.forms import StyledForm

from .rules import ManagingLevel, Operator, SchoolState, SchoolType

_ANY = ("", _("全部"))


def county_choices(scope: Scope) -> list[tuple[str, str]]:
    """Current county-level divisions inside the scope, with their full names."""
    if scope.everything:
        prefix = ""
    elif scope.area_prefix is not None and scope.school_id is None:
        prefix = scope.area_prefix
    else:
        return []
    codes = sorted(c for c in current_county_codes() if c.startswith(prefix))
    return [(code, f"{division_full_name(code)}（{code}）") for code in codes]


class SchoolFilterForm(StyledForm):
    q = forms.CharField(
        label=_("查找"),
        required=False,
        max_length=64,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("学校名称或10位学校标识码"),
                "autocomplete": "off",
            }
        ),
    )
    school_type = forms.ChoiceField(
        label=_("学校类型"), required=False, choices=[_ANY, *SchoolType.choices]
    )
    state = forms.ChoiceField(
        label=_("办学状态"), required=False, choices=[_ANY, *SchoolState.choices]
    )
    area = forms.RegexField(regex=r"^\d{2,6}$", required=False, widget=forms.HiddenInput())


class SchoolEditForm(StyledForm):
    """What can change after creation: name, operator, managing level, address."""

    name = forms.CharField(
        label=_("学校名称"),
        max_length=128,
        required=False,
        widget=forms.TextInput(attrs={"autofocus": True}),
    )
    operator = forms.ChoiceField(label=_("办学性质"), required=False, choices=Operator.choices)
    managing_level = forms.ChoiceField(
        label=_("学籍主管层级"),
        required=False,
        choices=ManagingLevel.choices,
        help_text=_("普通学校由县级管理；部分高中由地市级或省级管理"),
    )
    address = forms.CharField(label=_("地址"), max_length=255, required=False)

    marked_required = frozenset({"name"})


class SchoolCreateForm(SchoolEditForm):
    code = forms.CharField(
        label=_("学校标识码"),
        max_length=10,
        required=False,
        help_text=_("10位数字，由教育部统一编制"),
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "off", "autofocus": True}
        ),
    )
    school_type = forms.ChoiceField(
        label=_("学校类型"), required=False, choices=[("", _("— 请选择 —")), *SchoolType.choices]
    )
    division_code = forms.ChoiceField(
        label=_("所在区县"),
        required=False,
        help_text=_("海外中国学校、港澳内地课程学校为单列管理，不选区县"),
    )

    field_order = [
        "code",
        "name",
        "school_type",
        "operator",
        "division_code",
        "managing_level",
        "address",
    ]
    marked_required = frozenset({"code", "name", "school_type", "division_code"})

    def __init__(self, *args, scope: Scope, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.pop("autofocus", None)
        counties = county_choices(scope)
        blank = ("", _("— 请选择 —"))
        field = self.fields["division_code"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [blank, *counties] if len(counties) != 1 else counties
