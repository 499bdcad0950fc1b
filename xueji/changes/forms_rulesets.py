"""The rule-set edit form: per change type a structured sub-form and a formset of blocked
periods, plus the publishing note and effective-from.

The forms only parse. What a rule may hold (days in range, a transfer chain of all four
parties, MM-DD dates) is decided by ``validate_rule_overrides`` inside ``ruleset_publish``;
its errors, named by path (``transfer.chain``, ``transfer.blocked[1].from_md``), are put
back on the fields here.
"""

import re
from typing import Any

from django import forms
from django.forms import BaseFormSet, formset_factory
from django.utils.translation import gettext_lazy as _

from xueji.errors import FieldError
from xueji.schools.rules import GRADES
from xueji.web.forms import StyledForm, widget_css

from .rules import (
    DEATH_DAYS,
    ENTRY,
    GRADUATING,
    TRANSFER_CHAIN,
    ChangeType,
    MaterialKind,
    Party,
)
from .rulesets import RULE_KEYS, normalised

OTHER_CHAIN = (Party.SCHOOL, Party.AUTHORITY)
GRADE_CHOICES = [
    (ENTRY, _("起始年级")),
    (GRADUATING, _("毕业年级")),
    *((code, grade.name) for code, grade in GRADES.items()),
]
SEMESTER_CHOICES = [
    ("0", _("任一学期")),
    ("1", _("第一学期（秋季）")),
    ("2", _("第二学期（春季）")),
]
BLOCK_KEYS = ("grades", "semester", "from_md", "to_md", "note")
PATH = re.compile(r"^(?P<type>\w+)\.(?P<key>\w+)(?:\[(?P<index>\d+)\])?(?:\.(?P<sub>\w+))?$")


def days_limit(change_type: str) -> int:
    return DEATH_DAYS if change_type == ChangeType.DEATH else 10


class TypeRuleForm(StyledForm):
    """One change type: enabled, the approval chain, days per step, required materials."""

    def __init__(self, *args: Any, change_type: str, **kwargs: Any) -> None:
        self.change_type = change_type
        super().__init__(*args, **kwargs)
        self.fields["enabled"] = forms.BooleanField(label=_("开放办理"), required=False)
        if change_type == ChangeType.TRANSFER:
            choices = [("", _("请选择"))] + [(p, Party(p).label) for p in TRANSFER_CHAIN]
            for position in range(1, len(TRANSFER_CHAIN) + 1):
                self.fields[f"chain_{position}"] = forms.ChoiceField(
                    label=_("第%d步") % position, choices=choices, required=False
                )
        else:
            self.fields["chain"] = forms.MultipleChoiceField(
                label=_("办理环节"),
                choices=[(p, Party(p).label) for p in OTHER_CHAIN],
                widget=forms.CheckboxSelectMultiple,
                required=False,
                help_text=_("按学校、主管部门的顺序办理"),
            )
        limit = days_limit(change_type)
        self.fields["step_days"] = forms.IntegerField(
            label=_("每步时限（工作日）"),
            help_text=_("1 至 %d 个工作日") % limit,
            widget=forms.NumberInput(attrs={"min": 1, "max": limit, "inputmode": "numeric"}),
        )
        self.fields["materials"] = forms.MultipleChoiceField(
            label=_("必需材料"),
            choices=MaterialKind.choices,
            widget=forms.CheckboxSelectMultiple,
            required=False,
        )
        # The fields are made here, after StyledForm styled the (no) declared ones.
        for field in self.fields.values():
            if isinstance(field.widget, forms.CheckboxSelectMultiple):
                field.widget.attrs["class"] = "form-check-input"
            else:
                field.widget.attrs["class"] = widget_css(field.widget)

    @property
    def label(self) -> str:
        return str(ChangeType(self.change_type).label)

    @property
    def chain_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith("chain_")]

    @staticmethod
    def initial_for(change_type: str, rule: dict) -> dict:
        initial: dict[str, Any] = {
            "enabled": rule.get("enabled", True),
            "step_days": rule.get("step_days"),
            "materials": list(rule.get("materials") or []),
        }
        chain = list(rule.get("chain") or [])
        if change_type == ChangeType.TRANSFER:
            for position in range(1, len(TRANSFER_CHAIN) + 1):
                initial[f"chain_{position}"] = chain[position - 1] if position <= len(chain) else ""
        else:
            initial["chain"] = chain
        return initial

    def values(self) -> dict:
        data = self.cleaned_data
        if self.change_type == ChangeType.TRANSFER:
            chain = [data[f"chain_{i}"] for i in range(1, len(TRANSFER_CHAIN) + 1)]
            # An empty select is a missing party: kept out, the check names what is missing.
            chain = [party for party in chain if party]
        else:
            chain = [party for party in OTHER_CHAIN if party in data["chain"]]
        return {
            "enabled": bool(data["enabled"]),
            "chain": chain,
            "step_days": data["step_days"],
            "materials": list(data["materials"]),
        }

    def add_rule_error(self, key: str, message: str) -> None:
        if key == "chain" and self.change_type == ChangeType.TRANSFER:
            self.add_error(None, message)
            for bound in self.chain_fields:
                attrs = bound.field.widget.attrs
                attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
                attrs["aria-invalid"] = "true"
        elif key in self.fields:
            self.add_error(key, message)
        else:
            self.add_error(None, message)


class BlockForm(StyledForm):
    """One blocked period: which grades, which semester, which dates, and why."""

    grades = forms.MultipleChoiceField(
        label=_("年级"),
        choices=GRADE_CHOICES,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 4}),
        help_text=_("不选即所有年级"),
    )
    semester = forms.ChoiceField(label=_("学期"), choices=SEMESTER_CHOICES, required=False)
    from_md = forms.CharField(
        label=_("起（月-日）"),
        required=False,
        max_length=5,
        widget=forms.TextInput(attrs={"placeholder": "MM-DD", "inputmode": "numeric"}),
    )
    to_md = forms.CharField(
        label=_("止（月-日）"),
        required=False,
        max_length=5,
        widget=forms.TextInput(attrs={"placeholder": "MM-DD", "inputmode": "numeric"}),
    )
    note = forms.CharField(label=_("说明"), required=False, max_length=100)

    def block(self) -> dict | None:
        """The block this row describes, or None for an empty or deleted row."""
        data = self.cleaned_data
        if not data or data.get("DELETE"):
            return None
        block = {
            "grades": list(data.get("grades") or []),
            "semester": int(data.get("semester") or 0),
            "from_md": (data.get("from_md") or "").strip(),
            "to_md": (data.get("to_md") or "").strip(),
            "note": (data.get("note") or "").strip(),
        }
        if not any(block.values()):
            return None
        return block

    @staticmethod
    def initial_for(block: dict) -> dict:
        return {
            "grades": list(block.get("grades") or []),
            "semester": str(block.get("semester") or 0),
            "from_md": block.get("from_md") or "",
            "to_md": block.get("to_md") or "",
            "note": block.get("note") or "",
        }


class BaseBlockFormSet(BaseFormSet):
    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].label = _("删除此行")
            form.fields["DELETE"].widget.attrs["class"] = "form-check-input"


# Two blank rows under the existing ones; save and reopen the page for more.
BlockFormSet = formset_factory(BlockForm, formset=BaseBlockFormSet, extra=2, can_delete=True)


class PublishForm(StyledForm):
    note = forms.CharField(
        label=_("调整说明"),
        max_length=255,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text=_("写明依据的文件或调整的原因，将随版本永久保存"),
    )
    effective_from = forms.DateTimeField(
        label=_("生效时间"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("不填即立即生效；可填写将来的时间（预定生效）"),
    )
    marked_required = frozenset({"note"})


class TypeSection:
    """The forms of one change type on the edit page."""

    def __init__(
        self,
        change_type: str,
        *,
        rule: dict,
        below: dict,
        data: Any = None,
    ) -> None:
        self.change_type = change_type
        self.rule = rule
        self.below = below
        self.form = TypeRuleForm(
            data,
            change_type=change_type,
            prefix=change_type,
            initial=TypeRuleForm.initial_for(change_type, rule),
        )
        self.blocks = BlockFormSet(
            data,
            prefix=f"{change_type}-blocked",
            initial=[BlockForm.initial_for(b) for b in rule.get("blocked") or []],
        )
        # Which formset row each entry of ``values()["blocked"]`` came from.
        self.block_rows: list[int] = []
        self.errors: list[FieldError] = []

    @property
    def label(self) -> str:
        return str(ChangeType(self.change_type).label)

    @property
    def anchor(self) -> str:
        return f"rule-{self.change_type}"

    @property
    def overridden(self) -> bool:
        """Whether the edited layer currently changes this type (shown as a badge)."""
        return any(
            normalised(k, self.rule.get(k)) != normalised(k, self.below.get(k)) for k in RULE_KEYS
        )

    def is_valid(self) -> bool:
        # Both are validated so every error shows at once.
        form_ok = self.form.is_valid()
        blocks_ok = self.blocks.is_valid()
        return form_ok and blocks_ok

    def values(self) -> dict:
        """The full rule this section asks for; keys the page does not edit (per-party
        deadlines, type options) are carried over as they stand."""
        values = self.form.values()
        blocks = []
        self.block_rows = []
        for index, row in enumerate(self.blocks.forms):
            block = row.block()
            if block is not None:
                blocks.append(block)
                self.block_rows.append(index)
        values["blocked"] = blocks
        values["deadlines"] = dict(self.rule.get("deadlines") or {})
        values["options"] = dict(self.rule.get("options") or {})
        return values

    def add_error(self, error: FieldError) -> None:
        """Put a service error (``transfer.blocked[1].from_md``) on its field."""
        self.errors.append(error)
        match = PATH.match(error.field)
        message = str(error.message)
        if match is None:
            self.form.add_error(None, message)
            return
        key, index, sub = match["key"], match["index"], match["sub"]
        if key == "blocked" and index is not None and int(index) < len(self.block_rows):
            row = self.blocks.forms[self.block_rows[int(index)]]
            row.add_error(sub if sub in BLOCK_KEYS else None, message)
            return
        self.form.add_rule_error(key, message)

    @property
    def has_errors(self) -> bool:
        return bool(
            self.errors
            or self.form.errors
            or any(row.errors for row in self.blocks.forms)
            or self.blocks.non_form_errors()
        )
