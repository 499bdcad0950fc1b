"""Scoped reads of findings: the review queue of a unit (its own findings, and for an
authority those of the units below it), one finding with its evidence and, for a pair,
both records side by side, a merge, and the quality figures per semester."""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from xueji.accounts.models import Unit, UnitKind
from xueji.accounts.permissions import has_permission, require_permission
from xueji.accounts.rules import Permission
from xueji.divisions.models import CodeTable
from xueji.divisions.selectors import code_names, division_full_name
from xueji.errors import Forbidden
from xueji.schools.rules import GRADES
from xueji.students import identity
from xueji.students.models import Guardian, Student
from xueji.students.rules import IdType
from xueji.students.selectors import name_or_number
from xueji.verification.rules import semester_label

from .models import Finding, MergeRecord
from .permissions import access_finding, access_merge, findings_in_scope
from .routing import UnitMap
from .rules import (
    PAIR_KINDS,
    RULE_REASONS,
    FindingKind,
    FindingState,
    MergeState,
    suggest_survivor,
)

TABS = ("unit", "subtree")


def _unit_of(user: Any) -> Unit | None:
    return getattr(user, "unit", None)


def has_subtree(user: Any) -> bool:
    """Authorities see the findings of the units below them in a second tab."""
    unit = _unit_of(user)
    return unit is not None and unit.kind != UnitKind.SCHOOL


def finding_list(
    user: Any, *, tab: str = "unit", kind: str = "", state: str = "open", search: str = ""
) -> QuerySet[Finding]:
    """The queue: findings routed to the user's own unit (``tab`` "unit") or to the units
    below it ("subtree"), newest first, optionally of one kind and state ('' = any), and
    about a student (either of a pair) whose name or number holds ``search``."""
    require_permission(user, Permission.ANOMALY_VIEW)
    rows = findings_in_scope(user).select_related(
        "unit",
        "student",
        "student__record__school",
        "other_student",
        "other_student__record__school",
    )
    unit = _unit_of(user)
    if tab == "subtree" and has_subtree(user):
        rows = rows.exclude(unit=unit)
    else:
        rows = rows.filter(unit=unit)
    if kind in FindingKind.values:
        rows = rows.filter(kind=kind)
    if state in FindingState.values:
        rows = rows.filter(state=state)
    if search := search.strip():
        rows = rows.filter(
            name_or_number(search, field="student") | name_or_number(search, field="other_student")
        )
    return rows.order_by("-detected_at", "-pk")


def open_counts(user: Any) -> dict[str, dict[str, int]]:
    """Open findings per tab and kind (one grouped query), for the tab and filter badges."""
    require_permission(user, Permission.ANOMALY_VIEW)
    unit = _unit_of(user)
    counts: dict[str, dict[str, int]] = {tab: {} for tab in TABS}
    rows = (
        findings_in_scope(user)
        .filter(state=FindingState.OPEN)
        .values("unit_id", "kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in rows:
        tab = "unit" if unit is not None and row["unit_id"] == unit.pk else "subtree"
        counts[tab][row["kind"]] = counts[tab].get(row["kind"], 0) + row["n"]
    for tab in TABS:
        counts[tab]["all"] = sum(counts[tab].values())
    return counts


# ---------------------------------------------------------------- one finding


@dataclass(frozen=True)
class FieldRow:
    label: str
    left: str
    right: str = ""

    @property
    def differs(self) -> bool:
        return self.left != self.right


@dataclass
class Side:
    """One record as the review shows it (ID and guardians masked)."""

    student: Student
    school_name: str
    state_label: str
    grade_label: str
    guardians: list[str]
    on_roll: bool


@dataclass
class FindingDetail:
    finding: Finding
    sides: list[Side]
    comparison: list[FieldRow] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    linkage: dict[str, Any] | None = None
    suggested_survivor: int | None = None
    merges: list[MergeRecord] = field(default_factory=list)
    active_merge: MergeRecord | None = None
    can_resolve: bool = False


def _masked_name(name: str) -> str:
    return f"{name[:1]}{'*' * max(len(name) - 1, 1)}" if name else ""


def _side(student: Student, guardians: list[Guardian]) -> Side:
    from xueji.enrolment.rules import ON_ROLL, StatusState

    record = getattr(student, "record", None)
    grade = GRADES.get(record.grade) if record else None
    return Side(
        student=student,
        school_name=record.school.name if record else "",
        state_label=str(StatusState(record.state).label) if record else "",
        grade_label=str(grade.name) if grade else (record.grade if record else ""),
        guardians=[
            f"{_masked_name(g.name)}（{identity.masked_id(g) or _('无证件')}）" for g in guardians
        ],
        on_roll=bool(record and record.state in ON_ROLL),
    )


def _comparison(left: Side, right: Side) -> list[FieldRow]:
    a, b = left.student, right.student
    ra, rb = getattr(a, "record", None), getattr(b, "record", None)

    def row(label: str, x: Any, y: Any) -> FieldRow:
        return FieldRow(label, "" if x is None else str(x), "" if y is None else str(y))

    # Names, not codes: a reviewer compares "汉族" with "汉族", not "01" with "01".
    ethnicities = code_names(CodeTable.ETHNICITY)

    def place(code: str) -> str:
        return division_full_name(code) if code else ""

    def id_type(code: str) -> str:
        return str(IdType(code).label) if code in IdType.values else (code or "—")

    return [
        row(_("学籍号"), a.number_masked, b.number_masked),
        row(_("姓名"), a.name, b.name),
        row(_("曾用名"), a.former_name, b.former_name),
        row(_("姓名拼音"), a.name_pinyin, b.name_pinyin),
        row(_("性别"), a.get_sex_display(), b.get_sex_display()),
        row(_("出生日期"), a.birth_date.isoformat(), b.birth_date.isoformat()),
        row(_("出生地"), place(a.birthplace_code), place(b.birthplace_code)),
        row(
            _("民族"),
            ethnicities.get(a.ethnicity, a.ethnicity),
            ethnicities.get(b.ethnicity, b.ethnicity),
        ),
        row(_("身份证件类型"), id_type(a.id_type), id_type(b.id_type)),
        row(_("身份证件号"), identity.masked_id(a) or "—", identity.masked_id(b) or "—"),
        row(_("学校"), left.school_name, right.school_name),
        row(_("年级"), left.grade_label, right.grade_label),
        row(_("班级"), ra.class_name if ra else "", rb.class_name if rb else ""),
        row(_("学籍状态"), left.state_label, right.state_label),
        row(
            _("入学年月"),
            ra.entry_date.strftime("%Y-%m") if ra else "",
            rb.entry_date.strftime("%Y-%m") if rb else "",
        ),
        row(_("家庭成员"), "、".join(left.guardians), "、".join(right.guardians)),
    ]


def _reason_texts(evidence: dict[str, Any]) -> list[str]:
    texts = [
        str(RULE_REASONS.get(code, code))
        for code in (evidence.get("rule") or {}).get("reasons", [])
    ]
    registered = evidence.get("registration")
    if registered is not None:
        texts.append(
            _("注册查重：辖区外疑似重复（相似度 %(score)s）")
            % {"score": registered.get("score", "—")}
        )
    linked = evidence.get("linkage") or {}
    if linked.get("reasons"):
        try:
            from .linkage import reason_text
        except ImportError:  # the linkage's engines are not installed here: show the codes

            def reason_text(code: str) -> str:
                return code

        texts += [reason_text(code) for code in linked["reasons"]]
    return list(dict.fromkeys(texts))


def finding_detail(user: Any, *, finding_id: int) -> FindingDetail:
    finding = access_finding(user, finding_id)
    ids = [finding.student_id] + ([finding.other_student_id] if finding.other_student_id else [])
    students = {
        s.pk: s
        for s in Student.objects.filter(pk__in=ids).select_related("record", "record__school")
    }
    guardians: dict[int, list[Guardian]] = {pk: [] for pk in ids}
    for guardian in Guardian.objects.filter(student_id__in=ids).order_by("pk"):
        guardians[guardian.student_id].append(guardian)
    sides = [_side(students[pk], guardians[pk]) for pk in ids]
    detail = FindingDetail(
        finding=finding,
        sides=sides,
        can_resolve=has_permission(user, Permission.ANOMALY_RESOLVE),
        merges=list(MergeRecord.objects.filter(finding=finding).order_by("-merged_at", "-pk")),
    )
    detail.active_merge = next((m for m in detail.merges if m.state == MergeState.MERGED), None)
    if finding.kind in PAIR_KINDS and len(sides) == 2:
        detail.comparison = _comparison(sides[0], sides[1])
        detail.reasons = _reason_texts(finding.evidence)
        detail.linkage = finding.evidence.get("linkage")
        detail.suggested_survivor = suggest_survivor(
            [
                {
                    "id": side.student.pk,
                    "number_kind": side.student.number_kind,
                    "on_roll": side.on_roll,
                    "registered_at": side.student.created_at,
                }
                for side in sides
            ]
        )
    return detail


def merge_detail(user: Any, *, merge_id: int) -> MergeRecord:
    return access_merge(user, merge_id)


# ---------------------------------------------------------------- quality


@dataclass
class Cell:
    found: int = 0
    open: int = 0
    resolved: int = 0
    dismissed: int = 0

    def add(self, state: str, n: int) -> None:
        self.found += n
        if state == FindingState.OPEN:
            self.open += n
        elif state == FindingState.RESOLVED:
            self.resolved += n
        else:
            self.dismissed += n


@dataclass
class SemesterRow:
    school_year: int
    semester: int
    label: str
    cells: dict[str, Cell]
    total: Cell

    @property
    def ordered(self) -> list[Cell]:
        """The cells in the order of ``FindingKind`` (the table's columns)."""
        return [self.cells[kind] for kind in FindingKind.values]


@dataclass
class AreaRow:
    unit_id: int
    name: str
    open: dict[str, int]
    total: int

    @property
    def ordered(self) -> list[int]:
        return [self.open.get(kind, 0) for kind in FindingKind.values]


@dataclass
class Quality:
    kinds: list[tuple[str, str]]
    rows: list[SemesterRow]
    totals: dict[str, Cell]
    areas: list[AreaRow]
    chart: dict[str, Any]

    @property
    def cards(self) -> list[tuple[str, str, Cell]]:
        """(kind, label, totals) in the order of ``FindingKind``."""
        return [(kind, label, self.totals[kind]) for kind, label in self.kinds]

    @property
    def open_total(self) -> int:
        return sum(cell.open for cell in self.totals.values())


def quality(user: Any) -> Quality:
    """Per semester (the one a finding was first seen in) and kind: how many were found,
    how many are still open, resolved and dismissed — for the user's unit and everything
    below it. Authorities also get the open findings per unit directly below them."""
    if not (
        has_permission(user, Permission.ANOMALY_VIEW)
        or has_permission(user, Permission.STATISTICS_VIEW)
    ):
        raise Forbidden()
    kinds = [(value, str(label)) for value, label in FindingKind.choices]
    grouped = (
        findings_in_scope(user)
        .values("school_year", "semester", "kind", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    by_semester: dict[tuple[int, int], dict[str, Cell]] = {}
    totals = {kind: Cell() for kind, _label in kinds}
    for row in grouped:
        cells = by_semester.setdefault(
            (row["school_year"], row["semester"]), {kind: Cell() for kind, _label in kinds}
        )
        cells[row["kind"]].add(row["state"], row["n"])
        totals[row["kind"]].add(row["state"], row["n"])
    rows = []
    for (year, semester), cells in sorted(by_semester.items()):
        total = Cell()
        for cell in cells.values():
            total.found += cell.found
            total.open += cell.open
            total.resolved += cell.resolved
            total.dismissed += cell.dismissed
        rows.append(
            SemesterRow(
                school_year=year,
                semester=semester,
                label=semester_label(year, semester),
                cells=cells,
                total=total,
            )
        )
    chart = {
        "semesters": [row.label for row in rows],
        "series": [
            {"name": label, "data": [row.cells[kind].found for row in rows]}
            for kind, label in kinds
        ],
        "open": [row.total.open for row in rows],
        "labels": {"found": _("发现"), "open": _("仍待处理")},
    }
    return Quality(kinds=kinds, rows=rows, totals=totals, areas=_areas(user, kinds), chart=chart)


def _areas(user: Any, kinds: list[tuple[str, str]]) -> list[AreaRow]:
    """Open findings per unit directly below the user's (their subtrees included)."""
    unit = _unit_of(user)
    if unit is None or unit.kind == UnitKind.SCHOOL:
        return []
    grouped = list(
        findings_in_scope(user)
        .filter(state=FindingState.OPEN)
        .exclude(unit=unit)
        .values("unit_id", "unit__school_id", "kind")
        .annotate(n=Count("pk"))
        .order_by()
    )
    if not grouped:
        return []
    units = UnitMap()
    units.load_schools(r["unit__school_id"] for r in grouped if r["unit__school_id"])
    by_child: dict[int, dict[str, int]] = {}
    for row in grouped:
        chain = units.chain(row["unit_id"])
        if unit.pk not in chain:
            continue
        position = chain.index(unit.pk)
        child = chain[position - 1] if position > 0 else row["unit_id"]
        counts = by_child.setdefault(child, {})
        counts[row["kind"]] = counts.get(row["kind"], 0) + row["n"]
    names = dict(Unit.objects.filter(pk__in=by_child).values_list("pk", "name"))
    areas = [
        AreaRow(
            unit_id=child,
            name=names.get(child, str(child)),
            open=counts,
            total=sum(counts.values()),
        )
        for child, counts in by_child.items()
    ]
    return sorted(areas, key=lambda area: (-area.total, area.name))


def finding_students(findings) -> list[int]:
    """The students a page of findings shows: each finding's student and its pair's other."""
    ids: list[int] = []
    for finding in findings:
        ids.append(finding.student_id)
        if finding.other_student_id:
            ids.append(finding.other_student_id)
    return ids
