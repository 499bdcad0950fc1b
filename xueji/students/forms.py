"""Forms of the student pages. They parse and render; every rule lives in the services.

The registration form's field names are the registration input keys
(``validation.BASIC_KEYS``, ``GUARDIAN_KEYS`` and the non-basic schema keys), so what the
form posts is what ``student_register`` takes, and each ``FieldError`` the service
returns lands next to its field.
"""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from xueji.divisions.models import CodeTable
from xueji.divisions.selectors import code_items
from xueji.enrolment.rules import StatusState
from xueji.errors import NotFound
from xueji.schools.models import School
from xueji.schools.permissions import access_school
from xueji.schools.rules import GRADES, SchoolState, Stage
from xueji.web.forms import StyledForm, widget_css

from .models import NonBasicSchema, Sex
from .nonbasic import DEFAULT_SCHEMA_FIELDS
from .selectors import StudentFilters
from .validation import BASIC_KEYS, GUARDIAN_KEYS, REQUIRED

# Up to this many schools in scope, the school is picked from a list; above it (a province,
# the nation), the 10-digit school code is typed instead of rendering thousands of options.
SCHOOL_SELECT_LIMIT = 500

_BLANK = ("", _("— 请选择 —"))
_ANY = ("", _("全部"))


def _set_choices(form: forms.Form, name: str, choices: list) -> None:
    field = form.fields[name]
    assert isinstance(field, forms.ChoiceField)
    field.choices = choices


def school_choices(schools) -> list[tuple[str, str]]:
    return [(s.code, f"{s.name}（{s.code}）") for s in schools]


def code_choices(table: str, *, blank=_BLANK, show_code: bool = False) -> list:
    english = (get_language() or "").startswith("en")
    rows = []
    for item in code_items(table):
        name = item.name_en if english and item.name_en else item.name
        rows.append((item.code, f"{item.code} {name}" if show_code else name))
    return [blank, *rows] if blank else rows


def grade_choices(blank=_BLANK) -> list:
    groups: list = [
        (Stage(stage).label, [(g.code, g.name) for g in GRADES.values() if g.stage == stage])
        for stage in Stage.values
    ]
    return [blank, *groups]


def _school_field(schools: list[School], *, label, blank) -> forms.Field:
    """A list of the schools in scope, or a code box when there are too many to list."""
    if len(schools) <= SCHOOL_SELECT_LIMIT:
        choices = school_choices(schools)
        if blank is not None and len(choices) != 1:
            choices = [blank, *choices]
        return forms.ChoiceField(label=label, required=False, choices=choices)
    return forms.CharField(
        label=label,
        required=False,
        max_length=10,
        help_text=_("请输入10位学校标识码"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


# ---------------------------------------------------------------- student list filters


class StudentFilterForm(StyledForm):
    q = forms.CharField(
        label=_("查找"),
        required=False,
        max_length=64,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": _("学籍号、姓名或身份证件号（精确）"),
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
    )
    school = forms.CharField(label=_("学校"), required=False)
    grade = forms.ChoiceField(label=_("年级"), required=False)
    class_name = forms.CharField(
        label=_("班级"), required=False, max_length=32, widget=forms.TextInput()
    )
    state = forms.ChoiceField(label=_("学籍状态"), required=False)
    area = forms.RegexField(regex=r"^\d{2,6}$", required=False, widget=forms.HiddenInput())

    def __init__(self, data=None, *, user, schools: list[School] | None) -> None:
        super().__init__(data)
        self.user = user
        if schools is None:
            # A school account sees only its own school: no school filter.
            del self.fields["school"]
        else:
            self.fields["school"] = _school_field(schools, label=_("学校"), blank=_ANY)
            self.fields["school"].widget.attrs["class"] = widget_css(self.fields["school"].widget)
        _set_choices(self, "grade", grade_choices(blank=_ANY))
        _set_choices(self, "state", [_ANY, *StatusState.choices])

    def clean_school(self) -> School | None:
        code = (self.cleaned_data.get("school") or "").strip()
        if not code:
            return None
        try:
            return access_school(self.user, code=code)
        except NotFound:
            raise ValidationError(_("未找到该学校，或不在您的管理范围内")) from None

    def filters(self) -> StudentFilters:
        data = self.cleaned_data
        school = data.get("school")
        return StudentFilters(
            q=data.get("q", ""),
            school_id=school.pk if school else None,
            grade=data.get("grade", ""),
            class_name=data.get("class_name", ""),
            state=data.get("state", ""),
            area_prefix=data.get("area") or "",
        )


# ---------------------------------------------------------------- registration


def non_basic_fields_for(province_code: str) -> list[dict]:
    """The non-basic fields a registration in this province is checked against: the
    province's latest filed schema, else the national default. Read only: unlike
    ``services.schema_for_province`` it never creates the default row."""
    schema = (
        NonBasicSchema.objects.filter(province_code__in=[province_code, ""])
        .order_by("-province_code", "-version")
        .only("fields")
        .first()
    )
    return list(schema.fields) if schema is not None else DEFAULT_SCHEMA_FIELDS


def _text(label, *, max_length=64, **attrs) -> forms.CharField:
    return forms.CharField(
        label=label, required=False, max_length=max_length, widget=forms.TextInput(attrs=attrs)
    )


def _choice(label) -> forms.ChoiceField:
    return forms.ChoiceField(label=label, required=False)


def _area(label) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        max_length=6,
        help_text=_("6位行政区划代码，如 440106"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )


def _explain_conditions(form: StyledForm) -> None:
    """A field required only under a condition says which (from ``REQUIRED``)."""
    for key, condition in REQUIRED.items():
        if condition and key in form.fields and not form.fields[key].help_text:
            form.fields[key].help_text = str(condition)


class RegistrationForm(StyledForm):
    """Every basic field, one guardian, and the non-basic fields of the default schema.

    Django checks nothing but lengths here: ``student_register`` validates, so the form,
    the API and the import give the same answer with the same Chinese message.
    """

    # 身份信息
    name = _text(_("姓名"), autofocus=True, autocomplete="off", spellcheck="false")
    former_name = _text(_("曾用名"), autocomplete="off")
    name_pinyin = _text(_("姓名拼音"), max_length=128, autocomplete="off", spellcheck="false")
    sex = _choice(_("性别"))
    birth_date = forms.CharField(
        label=_("出生日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    ethnicity = _choice(_("民族"))
    nationality = _choice(_("国籍/地区"))
    id_type = _choice(_("身份证件类型"))
    id_number = _text(_("身份证件号"), max_length=32, autocomplete="off", spellcheck="false")
    id_valid_until = _text(
        _("证件有效期至"), max_length=10, placeholder=_("YYYY-MM-DD 或 长期"), autocomplete="off"
    )
    hmt_code = _choice(_("港澳台侨外"))
    # 户籍与健康
    birthplace_code = _area(_("出生地"))
    native_place_code = _area(_("籍贯"))
    household_place_code = _area(_("户口所在地"))
    household_type = _choice(_("户口性质"))
    health = _choice(_("健康状况"))
    # 在校信息
    school_code = forms.CharField(label=_("学校"), required=False)
    grade = _choice(_("年级"))
    class_name = _text(_("班级"), max_length=32, placeholder=_("如 1班"))
    entry_date = forms.CharField(
        label=_("入学年月"),
        required=False,
        max_length=7,
        widget=forms.DateInput(attrs={"type": "month", "placeholder": "YYYY-MM"}),
    )
    entry_mode = _choice(_("入学方式"))
    attendance = _choice(_("就读方式"))
    # 监护人
    guardian_name = _text(_("监护人姓名"), autocomplete="off")
    guardian_relation = _choice(_("与学生关系"))
    guardian_id_type = _choice(_("监护人证件类型"))
    guardian_id_number = _text(
        _("监护人证件号"), max_length=32, autocomplete="off", spellcheck="false"
    )
    guardian_phone = _text(_("监护人电话"), max_length=20, inputmode="tel", autocomplete="off")
    # The clerk's answers to a duplicate warning (not registration data).
    confirm_distinct = forms.BooleanField(label=_("我已核对，确认不是同一人"), required=False)
    reactivate = forms.BooleanField(required=False, widget=forms.HiddenInput())

    # The * marks follow the validation's own rule (conditions shown as help texts).
    marked_required = frozenset(REQUIRED)

    IDENTITY = (
        "name",
        "former_name",
        "name_pinyin",
        "sex",
        "birth_date",
        "ethnicity",
        "nationality",
        "id_type",
        "id_number",
        "id_valid_until",
        "hmt_code",
    )
    HOUSEHOLD = (
        "birthplace_code",
        "native_place_code",
        "household_place_code",
        "household_type",
        "health",
    )
    IN_SCHOOL = ("school_code", "grade", "class_name", "entry_date", "entry_mode", "attendance")
    GUARDIAN = GUARDIAN_KEYS

    def __init__(
        self, *args, schools: list[School], non_basic_fields: list[dict] | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.non_basic_keys = self._add_non_basic_fields(non_basic_fields or DEFAULT_SCHEMA_FIELDS)
        open_schools = [s for s in schools if s.state == SchoolState.OPEN]
        school_field = _school_field(open_schools, label=_("学校"), blank=_BLANK)
        school_field.widget.attrs["class"] = widget_css(school_field.widget)
        self.fields["school_code"] = school_field
        _set_choices(self, "sex", [_BLANK, *Sex.choices])
        _set_choices(self, "grade", grade_choices())
        choices = {
            "ethnicity": code_choices(CodeTable.ETHNICITY),
            "nationality": code_choices(CodeTable.COUNTRY),
            "id_type": code_choices(CodeTable.ID_TYPE, blank=("", _("（无证件）"))),
            "hmt_code": code_choices(CodeTable.HMT, blank=None),
            "household_type": code_choices(CodeTable.HOUSEHOLD_TYPE),
            "health": code_choices(CodeTable.HEALTH, blank=None),
            "entry_mode": code_choices(CodeTable.ENTRY_MODE),
            "attendance": code_choices(CodeTable.ATTENDANCE, blank=None),
            "guardian_relation": code_choices(CodeTable.RELATION),
        }
        choices["guardian_id_type"] = choices["id_type"]
        for key, values in choices.items():
            _set_choices(self, key, values)
        _explain_conditions(self)
        for key, value in {
            "nationality": "CHN",
            "id_type": "1",
            "hmt_code": "00",
            "health": "10",
            "attendance": "1",
            "guardian_id_type": "1",
        }.items():
            self.fields[key].initial = value

    def _add_non_basic_fields(self, specs: list[dict]) -> tuple[str, ...]:
        """The fields of a non-basic schema, labelled from the schema itself."""
        english = (get_language() or "").startswith("en")
        keys = []
        for spec in specs:
            if spec["key"] in self.fields:
                continue  # a schema key never shadows a basic field
            label = spec.get("label_en") if english and spec.get("label_en") else spec["label"]
            kind = spec.get("type", "text")
            field: forms.Field
            required = bool(spec.get("required"))
            if kind == "bool":
                field = forms.BooleanField(label=label, required=False)
            elif kind == "choice":
                field = forms.ChoiceField(
                    label=label, required=False, choices=code_choices(spec.get("code_table", ""))
                )
            elif kind == "phone":
                field = forms.CharField(
                    label=label,
                    required=False,
                    max_length=20,
                    widget=forms.TextInput(attrs={"inputmode": "tel"}),
                )
            else:
                field = forms.CharField(
                    label=label, required=False, max_length=int(spec.get("max_length", 200))
                )
            field.widget.attrs["class"] = widget_css(field.widget)
            self.fields[spec["key"]] = field
            keys.append(spec["key"])
            if required:
                self.marked_required = self.marked_required | {spec["key"]}
        return tuple(keys)

    def registration_data(self) -> dict:
        """The input of ``student_register``: exactly the registration keys."""
        data = self.cleaned_data
        keys = (*BASIC_KEYS, *GUARDIAN_KEYS, *self.non_basic_keys)
        return {key: data.get(key, "") for key in keys}

    def groups(self) -> list[tuple[object, list]]:
        """Fieldsets in page order (the first field gets the focus)."""
        return [
            (_("身份信息"), [self[k] for k in self.IDENTITY]),
            (_("在校信息"), [self[k] for k in self.IN_SCHOOL]),
            (_("户籍与健康"), [self[k] for k in self.HOUSEHOLD]),
            (_("监护人"), [self[k] for k in self.GUARDIAN]),
            (_("非基础信息"), [self[k] for k in self.non_basic_keys]),
        ]


# ---------------------------------------------------------------- correcting basic information


class CorrectionForm(StyledForm):
    """The basic fields, shown with their stored values; what the clerk changes is what the
    correction asks for (``student_correct`` validates). The ID number is never shown in
    full: left empty it stays as it is."""

    name = _text(_("姓名"), autocomplete="off", spellcheck="false")
    former_name = _text(_("曾用名"), autocomplete="off")
    name_pinyin = _text(_("姓名拼音"), max_length=128, autocomplete="off", spellcheck="false")
    sex = _choice(_("性别"))
    birth_date = forms.CharField(
        label=_("出生日期"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    ethnicity = _choice(_("民族"))
    nationality = _choice(_("国籍/地区"))
    id_type = _choice(_("身份证件类型"))
    id_number = _text(_("身份证件号"), max_length=32, autocomplete="off", spellcheck="false")
    id_valid_until = _text(
        _("证件有效期至"), max_length=10, placeholder=_("YYYY-MM-DD 或 长期"), autocomplete="off"
    )
    hmt_code = _choice(_("港澳台侨外"))
    birthplace_code = _area(_("出生地"))
    native_place_code = _area(_("籍贯"))
    household_place_code = _area(_("户口所在地"))
    household_type = _choice(_("户口性质"))
    health = _choice(_("健康状况"))
    reason = forms.CharField(
        label=_("更正原因"),
        required=False,
        max_length=255,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("如：户口簿登记的出生日期与学籍不一致，依据户口簿更正"),
    )

    FIELDS = (
        "name",
        "former_name",
        "name_pinyin",
        "sex",
        "birth_date",
        "ethnicity",
        "nationality",
        "id_type",
        "id_number",
        "id_valid_until",
        "hmt_code",
        "birthplace_code",
        "native_place_code",
        "household_place_code",
        "household_type",
        "health",
    )

    # What a registration requires stays required when corrected (same rule, same marks).
    marked_required = frozenset({"reason"} | (set(REQUIRED) & set(FIELDS)))

    def __init__(self, *args, stored: dict[str, str], masked_id: str, **kwargs) -> None:
        super().__init__(*args, initial={**stored, "id_number": ""}, **kwargs)
        _explain_conditions(self)
        self.stored = stored
        _set_choices(self, "sex", [_BLANK, *Sex.choices])
        for key, table, blank in (
            ("ethnicity", CodeTable.ETHNICITY, _BLANK),
            ("nationality", CodeTable.COUNTRY, _BLANK),
            ("id_type", CodeTable.ID_TYPE, ("", _("（无证件）"))),
            ("hmt_code", CodeTable.HMT, None),
            ("household_type", CodeTable.HOUSEHOLD_TYPE, _BLANK),
            ("health", CodeTable.HEALTH, None),
        ):
            _set_choices(self, key, code_choices(table, blank=blank))
        if masked_id:
            self.fields["id_number"].help_text = _("现为 %s；留空表示不更正") % masked_id

    def changes(self) -> dict[str, str]:
        """The fields whose submitted value differs from the stored one."""
        data = self.cleaned_data
        changed = {}
        for key in self.FIELDS:
            value = (data.get(key) or "").strip()
            if key == "id_number":
                if value:
                    changed[key] = value
            elif value != (self.stored.get(key) or ""):
                changed[key] = value
        return changed
