"""The portal's forms: large fields for a phone. They only parse; the services decide."""

from django import forms
from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _

from xueji.web.forms import StyledForm

from .selectors import Destination

LARGE = "form-control-lg"


def _text(label, *, max_length: int, **attrs) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=max_length,
        widget=forms.TextInput(attrs={"class": LARGE, "autocomplete": "off", **attrs}),
    )


class SignInForm(StyledForm):
    student_number = _text(
        _("学生的学籍号"), max_length=24, autocapitalize="characters", spellcheck="false"
    )
    guardian_id_number = _text(
        _("监护人身份证件号码"),
        max_length=32,
        autocapitalize="characters",
        spellcheck="false",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["student_number"].help_text = _("学籍号可向学校询问，或见学生学籍卡。")
        self.fields["guardian_id_number"].help_text = _("须与学校登记的监护人证件号码一致。")


class CodeForm(StyledForm):
    code = _text(
        _("短信验证码"),
        max_length=12,
        inputmode="numeric",
        autocomplete="one-time-code",
        enterkeyhint="done",
    )


DESTINATION_URL = reverse_lazy("portal:destination")


def _cascade_select(label) -> forms.ChoiceField:
    # Each select asks the server for the levels below it (htmx); the response replaces the
    # whole cascade, so a changed province clears the city, county and school. Only the
    # school is required: the levels above merely narrow the list.
    return forms.ChoiceField(
        label=label,
        choices=[],
        required=False,
        widget=forms.Select(
            attrs={
                "class": "form-select-lg",
                "hx-get": DESTINATION_URL,
                "hx-trigger": "change",
                "hx-target": "#destination",
                "hx-include": "#destination",
            }
        ),
    )


class ApplyForm(StyledForm):
    province = _cascade_select(_("转入省份"))
    city = _cascade_select(_("转入城市"))
    county = _cascade_select(_("转入区县"))
    school = forms.ChoiceField(
        label=_("转入学校"),
        choices=[],
        error_messages={"required": _("请选择转入学校"), "invalid_choice": _("请选择转入学校")},
        widget=forms.Select(attrs={"class": "form-select-lg"}),
    )
    reason = forms.CharField(
        label=_("转学原因"),
        max_length=500,
        widget=forms.Textarea(
            attrs={
                "rows": 3,
                "class": LARGE,
                "placeholder": _("如：随父母工作调动迁居成都"),
            }
        ),
    )

    def __init__(self, *args, destination: Destination, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.destination = destination
        for name, options, prompt in (
            ("province", destination.provinces, _("请选择省份")),
            ("city", destination.cities, _("请选择城市")),
            ("county", destination.counties, _("请选择区县")),
            ("school", destination.schools, _("请选择学校")),
        ):
            field = self.fields[name]
            assert isinstance(field, forms.ChoiceField)
            field.choices = [("", prompt), *((c.value, c.label) for c in options)]
            field.initial = getattr(destination, name)
            if not options:
                field.widget.attrs["disabled"] = True
                field.widget.attrs["aria-disabled"] = "true"


class WithdrawForm(StyledForm):
    reason = forms.CharField(
        label=_("撤回原因（可不填）"),
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"class": LARGE}),
    )


class MaterialForm(StyledForm):
    kind = forms.ChoiceField(
        label=_("材料类别"), choices=[], widget=forms.Select(attrs={"class": "form-select-lg"})
    )

    def __init__(self, *args, kinds: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["kind"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = kinds
