"""Forms of the change pages. They only shape the input: the services decide (reason
required, materials present, payload valid, period not blocked…) and their field errors
come back onto these fields through ``place_errors``."""

from datetime import date

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext_lazy as _

from xueji.enrolment.models import Programme
from xueji.errors import FieldError
from xueji.schools.models import School
from xueji.students.forms import grade_choices
from xueji.web.forms import StyledForm

from .rules import ChangeType, MaterialKind, RefusalReason, RequestState

_BLANK = ("", _("— 请选择 —"))
_ANY = ("", _("全部"))
MATERIAL_PREFIX = "material_"
MATERIAL_ACCEPT = ".pdf,.jpg,.jpeg,.png"
MATERIAL_HELP = _("PDF、JPG 或 PNG，不超过 10 MB")


def material_field_name(kind: str) -> str:
    return f"{MATERIAL_PREFIX}{kind}"


def _field_for(error_field: str) -> str:
    """A service's field name as the form spells it: ``payload.until`` → ``until``,
    ``materials.application`` → ``material_application``, ``target_school`` → ``school``
    on the transfer form (the receiving school)."""
    if error_field.startswith("payload."):
        return error_field.removeprefix("payload.")
    if error_field.startswith("materials."):
        return material_field_name(error_field.removeprefix("materials."))
    return error_field


def place_errors(form: StyledForm, errors: list[FieldError], aliases: dict | None = None) -> None:
    """Put a service's field errors next to the fields they name (others above the form)."""
    mapped = []
    for error in errors:
        name = _field_for(error.field)
        name = (aliases or {}).get(name, name)
        mapped.append(FieldError(name, error.code, error.message, error.value, error.row))
    form.add_field_errors(mapped)


def _date_widget() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class MaterialFieldsMixin:
    """One file input per material kind the rule in force asks for (marked required, but
    the service checks: its message names the missing material), plus "other"."""

    fields: dict

    def add_material_fields(self, required_kinds: tuple[str, ...] | list[str]) -> None:
        marked = set(getattr(self, "marked_required", frozenset()))
        kinds = [*required_kinds]
        if MaterialKind.OTHER not in kinds:
            kinds.append(MaterialKind.OTHER)
        for kind in kinds:
            name = material_field_name(kind)
            self.fields[name] = forms.FileField(
                label=MaterialKind(kind).label,
                required=False,
                help_text=MATERIAL_HELP,
                widget=forms.ClearableFileInput(
                    attrs={"accept": MATERIAL_ACCEPT, "class": "form-control"}
                ),
            )
            if kind in required_kinds:
                marked.add(name)
        self.marked_required = frozenset(marked)
        self.material_kinds = kinds

    def uploads(self) -> list[tuple[str, UploadedFile]]:
        cleaned = getattr(self, "cleaned_data", {})
        return [
            (kind, cleaned[material_field_name(kind)])
            for kind in getattr(self, "material_kinds", [])
            if cleaned.get(material_field_name(kind))
        ]

    def material_bound_fields(self) -> list:
        return [self[material_field_name(kind)] for kind in getattr(self, "material_kinds", [])]  # type: ignore[index]


# ---------------------------------------------------------------- list filters


class RequestFilterForm(StyledForm):
    q = forms.CharField(
        label=_("学生"),
        required=False,
        max_length=64,
        widget=forms.TextInput(attrs={"placeholder": _("学籍号或姓名"), "autocomplete": "off"}),
    )
    change_type = forms.ChoiceField(
        label=_("变动类型"), required=False, choices=[_ANY, *ChangeType.choices]
    )
    state = forms.ChoiceField(
        label=_("办理状态"), required=False, choices=[_ANY, *RequestState.choices]
    )
    # The home page's figures link here (xueji.changes.selectors.STEP_FILTERS).
    step = forms.ChoiceField(
        label=_("待办环节"),
        required=False,
        choices=[
            _ANY,
            ("mine", _("本单位待办")),
            ("mine_overdue", _("本单位待办（超期）")),
            ("area", _("辖区待办")),
            ("area_overdue", _("辖区待办（超期）")),
        ],
    )


# ---------------------------------------------------------------- starting a transfer


class TransferForm(MaterialFieldsMixin, StyledForm):
    """The receiving school names the student by student number and name (both must match);
    an authority also picks the receiving school among those in its scope."""

    school = forms.ChoiceField(label=_("转入学校"), required=False)
    student_number = forms.CharField(
        label=_("学籍号"),
        max_length=32,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )
    student_name = forms.CharField(
        label=_("学生姓名"), max_length=64, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )
    class_name = forms.CharField(label=_("转入班级"), max_length=32, required=False)
    grade = forms.ChoiceField(
        label=_("转入年级"),
        required=False,
        help_text=_("不选则保持原年级"),
    )
    effective_date = forms.DateField(
        label=_("生效日期"), required=False, widget=_date_widget(), help_text=_("不填则为今天")
    )
    reason = forms.CharField(
        label=_("转学事由"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    marked_required = frozenset({"school", "reason"})

    def __init__(
        self,
        *args,
        schools: list[School] | None,
        materials: tuple[str, ...] | list[str],
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        grade_field = self.fields["grade"]
        assert isinstance(grade_field, forms.ChoiceField)
        grade_field.choices = grade_choices(blank=("", _("保持原年级")))
        if schools is None:
            del self.fields["school"]  # a school's clerk files for its own school
        else:
            school_field = self.fields["school"]
            assert isinstance(school_field, forms.ChoiceField)
            school_field.choices = [
                _BLANK,
                *[(str(s.pk), f"{s.name}（{s.code}）") for s in schools],
            ]
        self.add_material_fields(materials)

    def school_id(self) -> int | None:
        value = self.cleaned_data.get("school") or ""
        return int(value) if str(value).isdigit() else None

    def payload(self) -> dict:
        data = self.cleaned_data
        return {key: data[key] for key in ("grade", "class_name") if data.get(key)}


# ---------------------------------------------------------------- every other change


# The payload fields each change type asks for (beyond date, reason and materials).
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    ChangeType.RETURN: ("grade",),
    ChangeType.RESUME: ("grade",),
    ChangeType.DEFER: ("from_date", "until"),
    ChangeType.DEATH: ("died_on",),
    ChangeType.PROGRAMME: ("programme",),
    ChangeType.HOME_TAUGHT: ("home_taught",),
    ChangeType.SPECIALISED: ("target_school",),
}
REQUIRED_TYPE_FIELDS: dict[str, set[str]] = {
    ChangeType.RETURN: {"grade"},
    ChangeType.DEFER: {"until"},
    ChangeType.DEATH: {"died_on"},
    ChangeType.PROGRAMME: {"programme"},
    ChangeType.SPECIALISED: {"target_school"},
}
PAYLOAD_KEYS = {"from_date": "from"}  # form field → payload key where they differ
FILEABLE_TYPES = [t for t in ChangeType if t != ChangeType.TRANSFER]


class ChangeForm(MaterialFieldsMixin, StyledForm):
    """A change other than a transfer: the fields of its type and the materials its rule
    in force asks for."""

    effective_date = forms.DateField(label=_("生效日期"), required=False, widget=_date_widget())
    reason = forms.CharField(
        label=_("变动事由"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    grade = forms.ChoiceField(label=_("年级"), required=False)
    from_date = forms.DateField(label=_("缓学起始日期"), required=False, widget=_date_widget())
    until = forms.DateField(label=_("缓学截止日期"), required=False, widget=_date_widget())
    died_on = forms.DateField(label=_("死亡日期"), required=False, widget=_date_widget())
    programme = forms.ChoiceField(
        label=_("转为培养类型"), required=False, choices=[_BLANK, *Programme.choices]
    )
    home_taught = forms.BooleanField(label=_("送教上门"), required=False, initial=True)
    target_school = forms.ChoiceField(label=_("安置学校（专门学校）"), required=False)

    def __init__(
        self,
        *args,
        change_type: str,
        materials: tuple[str, ...] | list[str],
        specialised_schools: list[School] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.change_type = change_type
        wanted = set(TYPE_FIELDS.get(change_type, ()))
        for name in ("grade", "from_date", "until", "died_on", "programme", "home_taught"):
            if name not in wanted:
                del self.fields[name]
        if "target_school" not in wanted:
            del self.fields["target_school"]
        else:
            target = self.fields["target_school"]
            assert isinstance(target, forms.ChoiceField)
            target.choices = [
                _BLANK,
                *[(str(s.pk), f"{s.name}（{s.code}）") for s in specialised_schools or []],
            ]
        if "grade" in self.fields:
            grade = self.fields["grade"]
            assert isinstance(grade, forms.ChoiceField)
            grade.choices = grade_choices()
            if change_type == ChangeType.RESUME:
                grade.help_text = _("不选则回到原年级")
        self.marked_required = frozenset(
            {"effective_date", "reason", *REQUIRED_TYPE_FIELDS.get(change_type, set())}
        )
        self.add_material_fields(materials)

    def payload(self) -> dict:
        payload: dict = {}
        for name in TYPE_FIELDS.get(self.change_type, ()):
            if name == "target_school":
                continue
            value = self.cleaned_data.get(name)
            if name == "home_taught":
                payload["home_taught"] = bool(value)
            elif isinstance(value, date):
                payload[PAYLOAD_KEYS.get(name, name)] = value.isoformat()
            elif value:
                payload[PAYLOAD_KEYS.get(name, name)] = value
        return payload

    def target_school_id(self) -> int | None:
        value = self.cleaned_data.get("target_school") or ""
        return int(value) if str(value).isdigit() else None


# ---------------------------------------------------------------- handling and withdrawing


class RefuseForm(StyledForm):
    """Both required; the service says so (refusal.reason_required, refusal.text_required)."""

    refusal_reason = forms.ChoiceField(
        label=_("不同意的理由"), required=False, choices=[_BLANK, *RefusalReason.choices]
    )
    comment = forms.CharField(
        label=_("具体说明"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    marked_required = frozenset({"refusal_reason", "comment"})


class WithdrawForm(StyledForm):
    reason = forms.CharField(
        label=_("撤回原因"),
        required=False,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    marked_required = frozenset({"reason"})


class MaterialAddForm(StyledForm):
    kind = forms.ChoiceField(label=_("材料类别"), choices=MaterialKind.choices)
    file = forms.FileField(
        label=_("文件"),
        required=False,
        help_text=MATERIAL_HELP,
        widget=forms.ClearableFileInput(attrs={"accept": MATERIAL_ACCEPT}),
    )

    marked_required = frozenset({"file"})
