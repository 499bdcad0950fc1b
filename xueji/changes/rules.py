"""Change types, the parties of an approval chain, and the national default rule set.

Pure: no database, no clock. A province rule set overrides the defaults per change type;
``effective_rule`` merges them, and a request keeps the merged rule it was filed under.
"""

from dataclasses import asdict, dataclass, field, replace
from datetime import date
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from xueji.enrolment.rules import StatusState
from xueji.errors import FieldError
from xueji.schools.rules import GRADES


class ChangeType(models.TextChoices):
    TRANSFER = "transfer", _("转学")
    SUSPEND = "suspend", _("休学")
    RESUME = "resume", _("复学")
    DEFER = "defer", _("缓学")
    ABROAD = "abroad", _("出境学习")
    RETURN = "return", _("出境返回")
    REPEAT = "repeat", _("留级")
    SKIP = "skip", _("跳级")
    DEMOTE = "demote", _("降级")
    DROPOUT = "dropout", _("辍学")
    WITHDRAW = "withdraw", _("退学")
    EXPEL = "expel", _("开除")
    DEATH = "death", _("死亡注销")
    COMPLETE = "complete", _("结业")
    LEAVE = "leave", _("肄业")
    SPECIALISED = "specialised", _("专门学校安置")
    HOME_TAUGHT = "home_taught", _("送教上门")
    PROGRAMME = "programme", _("普职转换")


class Party(models.TextChoices):
    """Who handles (核办) a step. Transfers have four parties; other changes two."""

    RECEIVING_SCHOOL = "receiving_school", _("转入学校")
    RECEIVING_AUTHORITY = "receiving_authority", _("转入地学籍主管部门")
    SENDING_SCHOOL = "sending_school", _("转出学校")
    SENDING_AUTHORITY = "sending_authority", _("转出地学籍主管部门")
    SCHOOL = "school", _("学校")
    AUTHORITY = "authority", _("学籍主管部门")


SCHOOL_PARTIES = frozenset({Party.RECEIVING_SCHOOL, Party.SENDING_SCHOOL, Party.SCHOOL})
TRANSFER_PARTIES = frozenset(
    {
        Party.RECEIVING_SCHOOL,
        Party.RECEIVING_AUTHORITY,
        Party.SENDING_SCHOOL,
        Party.SENDING_AUTHORITY,
    }
)
OTHER_PARTIES = frozenset({Party.SCHOOL, Party.AUTHORITY})


class RequestState(models.TextChoices):
    OPEN = "open", _("办理中")
    COMPLETED = "completed", _("已办结")
    REFUSED = "refused", _("未通过")
    WITHDRAWN = "withdrawn", _("已撤回")


class StepState(models.TextChoices):
    WAITING = "waiting", _("待前序办理")
    PENDING = "pending", _("待办理")
    APPROVED = "approved", _("同意")
    REFUSED = "refused", _("不同意")
    CANCELLED = "cancelled", _("已取消")


class Channel(models.TextChoices):
    SCHOOL = "school", _("学校办理")
    AUTHORITY = "authority", _("主管部门办理")
    GUARDIAN = "guardian", _("家长网上申请")
    API = "api", _("接口")


class RefusalReason(models.TextChoices):
    """The fixed list a refusal must choose from (plus a text): no refusal without a
    legitimate reason."""

    MATERIALS_MISSING = "materials_missing", _("材料不全或不符合要求")
    IDENTITY_MISMATCH = "identity_mismatch", _("学生身份信息不一致")
    NO_PLACE = "no_place", _("转入学校学位已满")
    BLOCKED_PERIOD = "blocked_period", _("处于不允许变动的时段或年级")
    CONDITIONS_NOT_MET = "conditions_not_met", _("不符合本省变动条件")
    DISCIPLINARY = "disciplinary", _("正在接受处分或调查")
    OTHER = "other", _("其他法定理由")


class MaterialKind(models.TextChoices):
    APPLICATION = "application", _("申请表")
    RESIDENCE = "residence", _("户籍或居住证明")
    GUARDIAN_ID = "guardian_id", _("监护人身份证明")
    MEDICAL = "medical", _("医疗诊断证明")
    DEATH_PROOF = "death_proof", _("死亡证明")
    TRAVEL_DOCUMENT = "travel_document", _("出境证件")
    LEARNING_RECORD = "learning_record", _("学习经历证明")
    PLACEMENT_DECISION = "placement_decision", _("专门教育安置决定")
    DISCIPLINARY_DECISION = "disciplinary_decision", _("处分决定书")
    OTHER = "other", _("其他材料")


# Grade markers usable in a block instead of explicit grade codes.
ENTRY = "entry"  # the first grade of a stage
GRADUATING = "graduating"  # the last grade of a stage
ENTRY_GRADES = frozenset({"11", "21", "31"})
GRADUATING_GRADES = frozenset({"16", "23", "24", "33"})


@dataclass(frozen=True)
class Block:
    """A period or grade in which a change may not be filed.

    ``grades`` lists grade codes or the markers ``entry``/``graduating``; empty means every
    grade. ``semester`` 1 (autumn, Sep–Jan) or 2 (spring, Feb–Aug), 0 for both.
    ``from_md``/``to_md`` ("MM-DD", inclusive, may wrap the year end) narrow it to dates.
    """

    grades: tuple[str, ...] = ()
    semester: int = 0
    from_md: str = ""
    to_md: str = ""
    note: str = ""


@dataclass(frozen=True)
class ChangeRule:
    """Everything a province decides about one change type."""

    enabled: bool = True
    chain: tuple[str, ...] = (Party.SCHOOL, Party.AUTHORITY)
    step_days: int = 10  # working days each step has
    # Per-party overrides of step_days.
    deadlines: dict[str, int] = field(default_factory=dict)
    materials: tuple[str, ...] = ()
    blocked: tuple[Block, ...] = ()
    # Type-specific settings (deferral length, whether a placement moves the record, …).
    options: dict[str, Any] = field(default_factory=dict)

    def days_for(self, party: str) -> int:
        return int(self.deadlines.get(party, self.step_days))

    def as_json(self) -> dict:
        data = asdict(self)
        data["chain"] = list(self.chain)
        data["materials"] = list(self.materials)
        data["blocked"] = [asdict(b) for b in self.blocked]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "ChangeRule":
        return cls(
            enabled=bool(data.get("enabled", True)),
            chain=tuple(data.get("chain", ())),
            step_days=int(data.get("step_days", 10)),
            deadlines={k: int(v) for k, v in (data.get("deadlines") or {}).items()},
            materials=tuple(data.get("materials", ())),
            blocked=tuple(Block(**b) for b in data.get("blocked", ())),
            options=dict(data.get("options") or {}),
        )


TRANSFER_CHAIN = (
    Party.RECEIVING_SCHOOL,
    Party.RECEIVING_AUTHORITY,
    Party.SENDING_SCHOOL,
    Party.SENDING_AUTHORITY,
)

DEATH_DAYS = 60  # Art. 21: 60 working days (it was 10)

DEFAULT_RULES: dict[str, ChangeRule] = {
    ChangeType.TRANSFER: ChangeRule(
        chain=TRANSFER_CHAIN,
        materials=(MaterialKind.APPLICATION,),
        blocked=(
            Block(grades=(ENTRY,), semester=1, note="起始年级第一学期不办理转学"),
            Block(grades=(GRADUATING,), semester=2, note="毕业年级第二学期不办理转学"),
        ),
    ),
    ChangeType.SUSPEND: ChangeRule(materials=(MaterialKind.APPLICATION, MaterialKind.MEDICAL)),
    ChangeType.RESUME: ChangeRule(materials=(MaterialKind.APPLICATION,)),
    ChangeType.DEFER: ChangeRule(materials=(MaterialKind.APPLICATION,), options={"max_days": 365}),
    ChangeType.ABROAD: ChangeRule(
        materials=(MaterialKind.APPLICATION, MaterialKind.TRAVEL_DOCUMENT)
    ),
    ChangeType.RETURN: ChangeRule(
        materials=(MaterialKind.APPLICATION, MaterialKind.LEARNING_RECORD)
    ),
    ChangeType.REPEAT: ChangeRule(materials=(MaterialKind.APPLICATION,)),
    ChangeType.SKIP: ChangeRule(materials=(MaterialKind.APPLICATION,)),
    ChangeType.DEMOTE: ChangeRule(materials=(MaterialKind.APPLICATION, MaterialKind.MEDICAL)),
    ChangeType.DROPOUT: ChangeRule(chain=(Party.SCHOOL, Party.AUTHORITY)),
    ChangeType.WITHDRAW: ChangeRule(materials=(MaterialKind.APPLICATION,)),
    ChangeType.EXPEL: ChangeRule(materials=(MaterialKind.DISCIPLINARY_DECISION,)),
    # Every step of a death case is due 60 working days after the date of death.
    ChangeType.DEATH: ChangeRule(
        step_days=DEATH_DAYS,
        materials=(MaterialKind.DEATH_PROOF,),
        options={"from_effective": True},
    ),
    ChangeType.COMPLETE: ChangeRule(),
    ChangeType.LEAVE: ChangeRule(),
    ChangeType.SPECIALISED: ChangeRule(
        materials=(MaterialKind.PLACEMENT_DECISION,), options={"move_record": False}
    ),
    ChangeType.HOME_TAUGHT: ChangeRule(materials=(MaterialKind.MEDICAL,)),
    ChangeType.PROGRAMME: ChangeRule(materials=(MaterialKind.APPLICATION,)),
}


@dataclass(frozen=True)
class Effect:
    """What a completed change does to the record."""

    from_states: frozenset[str]
    to_state: str | None = None  # None: the state stays
    senior_only: bool = False
    needs_target_school: bool = False


_ACTIVE = frozenset({StatusState.ENROLLED})
EFFECTS: dict[str, Effect] = {
    ChangeType.TRANSFER: Effect(_ACTIVE, needs_target_school=True),
    ChangeType.SUSPEND: Effect(_ACTIVE, StatusState.SUSPENDED),
    ChangeType.RESUME: Effect(
        frozenset({StatusState.SUSPENDED, StatusState.DEFERRED, StatusState.DROPPED_OUT}),
        StatusState.ENROLLED,
    ),
    ChangeType.DEFER: Effect(_ACTIVE, StatusState.DEFERRED),
    ChangeType.ABROAD: Effect(_ACTIVE, StatusState.ABROAD),
    ChangeType.RETURN: Effect(frozenset({StatusState.ABROAD}), StatusState.ENROLLED),
    ChangeType.REPEAT: Effect(_ACTIVE),
    ChangeType.SKIP: Effect(_ACTIVE),
    ChangeType.DEMOTE: Effect(_ACTIVE),
    ChangeType.DROPOUT: Effect(
        frozenset({StatusState.ENROLLED, StatusState.SUSPENDED, StatusState.DEFERRED}),
        StatusState.DROPPED_OUT,
    ),
    ChangeType.WITHDRAW: Effect(
        frozenset({StatusState.ENROLLED, StatusState.SUSPENDED, StatusState.DROPPED_OUT}),
        StatusState.WITHDRAWN,
        senior_only=True,
    ),
    ChangeType.EXPEL: Effect(_ACTIVE, StatusState.EXPELLED, senior_only=True),
    ChangeType.DEATH: Effect(
        frozenset(s for s in StatusState.values if s != StatusState.CANCELLED),
        StatusState.CANCELLED,
    ),
    ChangeType.COMPLETE: Effect(_ACTIVE, StatusState.COMPLETED),
    ChangeType.LEAVE: Effect(_ACTIVE, StatusState.LEFT),
    ChangeType.SPECIALISED: Effect(_ACTIVE, needs_target_school=True),
    ChangeType.HOME_TAUGHT: Effect(_ACTIVE),
    ChangeType.PROGRAMME: Effect(_ACTIVE, senior_only=True),
}


# ----------------------------------------------------------------- rule sets


def effective_rule(change_type: str, *, national: dict, province: dict | None) -> ChangeRule:
    """The rule for one type: the defaults, then the national set, then the province set.

    Rule sets hold, per change type, only the keys they change; the mappings (per-party
    deadlines, options) merge key by key, so overriding one option keeps the others."""
    merged = DEFAULT_RULES[change_type].as_json()
    for layer in (national, province or {}):
        for key, value in layer.get(change_type, {}).items():
            if key in ("deadlines", "options") and isinstance(value, dict):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
    return ChangeRule.from_json(merged)


def validate_rule_overrides(data: dict, *, national: bool) -> list[FieldError]:
    """Check a rule set's content: known types and keys, sane chains, days and blocks."""
    from django.utils.translation import gettext as gt

    errors: list[FieldError] = []
    if not isinstance(data, dict):
        return [FieldError("rules", "rule.invalid", gt("规则集必须是对象"))]
    known_keys = set(ChangeRule.__dataclass_fields__)
    for change_type, override in data.items():
        where = f"{change_type}"
        if change_type not in ChangeType.values:
            errors.append(FieldError(where, "rule.type_unknown", gt("未知的变动类型")))
            continue
        if not isinstance(override, dict):
            errors.append(FieldError(where, "rule.invalid", gt("规则必须是对象")))
            continue
        for key in set(override) - known_keys:
            errors.append(FieldError(f"{where}.{key}", "rule.key_unknown", gt("未知的规则项")))
        if "enabled" in override and not isinstance(override["enabled"], bool):
            errors.append(
                FieldError(f"{where}.enabled", "rule.enabled_invalid", gt("是否开放须为是或否"))
            )
        allowed = TRANSFER_PARTIES if change_type == ChangeType.TRANSFER else OTHER_PARTIES
        chain = override.get("chain")
        if chain is not None:
            if (
                not isinstance(chain, list | tuple)
                or not chain
                or not all(isinstance(p, str) for p in chain)
                or len(set(chain)) != len(chain)
                or not set(chain) <= allowed
            ):
                errors.append(
                    FieldError(
                        f"{where}.chain",
                        "rule.chain_invalid",
                        gt("审核链只能由以下环节组成且不可重复：%s")
                        % "、".join(str(Party(p).label) for p in sorted(allowed)),
                    )
                )
            elif change_type == ChangeType.TRANSFER and set(chain) != TRANSFER_PARTIES:
                # Art. 15: all four parties handle a transfer; a province sets the order only.
                errors.append(
                    FieldError(
                        f"{where}.chain",
                        "rule.chain_incomplete",
                        gt("转学须由转入学校、转出学校和双方学籍主管部门四方核办"),
                    )
                )
        deadlines = override.get("deadlines") or {}
        if not isinstance(deadlines, dict):
            errors.append(
                FieldError(
                    f"{where}.deadlines", "rule.deadlines_invalid", gt("分环节时限格式不正确")
                )
            )
            deadlines = {}
        for party in deadlines:
            if party not in allowed:
                errors.append(
                    FieldError(
                        f"{where}.deadlines.{party}",
                        "rule.party_unknown",
                        gt("该变动没有此办理环节"),
                    )
                )
        days = [("step_days", override.get("step_days"))] + [
            (f"deadlines.{k}", v) for k, v in deadlines.items()
        ]
        limit = DEATH_DAYS if change_type == ChangeType.DEATH else 10
        for key, value in days:
            if value is None:
                continue
            # bool is an int to Python, not to a rule set.
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
                errors.append(
                    FieldError(
                        f"{where}.{key}",
                        "rule.days_invalid",
                        gt("办理时限须为 1 至 %d 个工作日") % limit,
                    )
                )
        materials = override.get("materials") or []
        if not isinstance(materials, list | tuple):
            errors.append(
                FieldError(f"{where}.materials", "rule.materials_invalid", gt("材料须为列表"))
            )
            materials = []
        for i, material in enumerate(materials):
            if material not in MaterialKind.values:
                errors.append(
                    FieldError(f"{where}.materials[{i}]", "rule.material_unknown", gt("未知的材料"))
                )
            elif material in materials[:i]:
                errors.append(
                    FieldError(f"{where}.materials[{i}]", "rule.material_repeated", gt("材料重复"))
                )
        blocked = override.get("blocked") or []
        if not isinstance(blocked, list | tuple):
            errors.append(
                FieldError(f"{where}.blocked", "rule.block_invalid", gt("限制时段须为列表"))
            )
            blocked = []
        for i, block in enumerate(blocked):
            errors += _block_errors(f"{where}.blocked[{i}]", block)
        if not isinstance(override.get("options", {}), dict):
            errors.append(
                FieldError(f"{where}.options", "rule.options_invalid", gt("选项须为对象"))
            )
    return errors


def _block_errors(where: str, block: Any) -> list[FieldError]:
    from django.utils.translation import gettext as gt

    if not isinstance(block, dict) or set(block) - set(Block.__dataclass_fields__):
        return [FieldError(where, "rule.block_invalid", gt("限制时段格式不正确"))]
    errors = []
    grades = block.get("grades", ())
    if not isinstance(grades, list | tuple):
        errors.append(FieldError(f"{where}.grades", "rule.grade_unknown", gt("年级须为列表")))
        grades = ()
    for grade in grades:
        if grade not in (ENTRY, GRADUATING) and grade not in GRADES:
            errors.append(FieldError(f"{where}.grades", "rule.grade_unknown", gt("未知的年级")))
    semester = block.get("semester", 0)
    if isinstance(semester, bool) or semester not in (0, 1, 2):
        errors.append(
            FieldError(f"{where}.semester", "rule.semester_invalid", gt("学期须为 0、1 或 2"))
        )
    for key in ("from_md", "to_md"):
        value = block.get(key, "")
        if value and (not isinstance(value, str) or not _valid_md(value)):
            errors.append(FieldError(f"{where}.{key}", "rule.md_invalid", gt("日期须为 MM-DD")))
    return errors


def _valid_md(value: str) -> bool:
    try:
        date(2024, int(value[:2]), int(value[3:5]))
    except (ValueError, IndexError):
        return False
    return len(value) == 5 and value[2] == "-"


# ----------------------------------------------------------------- blocked periods


def semester_of(day: date) -> tuple[int, int]:
    """(school year, semester): the autumn semester (1) runs September–January, the spring
    semester (2) February–August; the school year is named by its autumn."""
    if day.month >= 9:
        return day.year, 1
    if day.month == 1:
        return day.year - 1, 1
    return day.year - 1, 2


def _grade_matches(grades: tuple[str, ...], grade: str) -> bool:
    if not grades:
        return True
    for item in grades:
        if item == grade:
            return True
        if item == ENTRY and grade in ENTRY_GRADES:
            return True
        if item == GRADUATING and grade in GRADUATING_GRADES:
            return True
    return False


def _in_md_window(day: date, from_md: str, to_md: str) -> bool:
    if not from_md and not to_md:
        return True
    md = day.strftime("%m-%d")
    start, end = from_md or "01-01", to_md or "12-31"
    if start <= end:
        return start <= md <= end
    return md >= start or md <= end  # the window wraps the year end


def blocking(rule: ChangeRule, *, grade: str, on: date) -> Block | None:
    """The first block that forbids filing this change for a student in ``grade`` on ``on``."""
    _, semester = semester_of(on)
    for block in rule.blocked:
        if block.semester and block.semester != semester:
            continue
        if not _grade_matches(block.grades, grade):
            continue
        if not _in_md_window(on, block.from_md, block.to_md):
            continue
        return block
    return None


# ----------------------------------------------------------------- grade moves


def grade_step(grade: str, delta: int) -> str | None:
    """The grade ``delta`` years away within the same stage, or None past either end."""
    current = GRADES.get(grade)
    if current is None:
        return None
    target = f"{current.stage}{current.year + delta}"
    return target if target in GRADES else None


def with_options(rule: ChangeRule, **options: Any) -> ChangeRule:
    return replace(rule, options={**rule.options, **options})
