"""The only writers of campaigns, school confirmations and roll marks.

Set-based throughout: opening a campaign inserts one confirmation row per open school in
scope with one INSERT…SELECT (the students on each roll counted in the same statement);
a school's marks are created when the school opens its roll, again with one
INSERT…SELECT over its status records; "all present except" is a handful of UPDATEs. The
counts on a school's confirmation are recounted from its marks (one grouped query) in the
transaction of every marking, with the confirmation row locked, so two clerks of one
school never lose each other's counts.
"""

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.urls import reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import UnitKind
from xueji.accounts.permissions import require_permission
from xueji.accounts.rules import Permission
from xueji.audit.events import AuditAction, ObjectType
from xueji.audit.models import EarlyWarning
from xueji.audit.services import audit_record
from xueji.audit.warnings import warning_raise, warning_resolve
from xueji.changes.models import ChangeRequest
from xueji.changes.rules import RequestState
from xueji.divisions.selectors import division_names
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import ON_ROLL
from xueji.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from xueji.schools.models import School
from xueji.schools.rules import SEPARATE_PREFIX, SchoolState
from xueji.students.models import BasicInfoRevision

from .models import Campaign, RollMark, SchoolConfirmation
from .permissions import access_campaign, access_confirmation, own_school_id
from .rules import (
    CONFIRMATION_SUBJECT,
    MARK_BATCH_LIMIT,
    OVERDUE_KIND,
    CampaignState,
    ConfirmationState,
    Mark,
    campaign_errors,
    default_title,
    sign_off_refusal,
)

# PostgreSQL: openings of campaigns take this transaction-level advisory lock, so a
# national and a provincial campaign for one semester cannot both pass the overlap check.
# (SQLite serialises writers already.)
OPENING_LOCK = 0x7875_6A69_0005


# ---------------------------------------------------------------- names


def scope_name(province_code: str) -> str:
    """ "全国", the province's name, or the separately listed schools (stored data: Chinese)."""
    if not province_code:
        return "全国"
    if province_code == SEPARATE_PREFIX:
        return "单列管理学校"
    return division_names().get(f"{province_code}0000", province_code)


def _province_known(province_code: str) -> bool:
    return province_code == SEPARATE_PREFIX or f"{province_code}0000" in division_names()


# ---------------------------------------------------------------- opening and closing


def campaign_open(
    *,
    actor: Any,
    province_code: str,
    school_year: int,
    semester: int,
    deadline: date,
    title: str = "",
) -> Campaign:
    """Open a campaign for a semester: national (``province_code`` '', national reviewers
    only) or one province's (national reviewers, or that province's). Every open school in
    scope gets a confirmation row carrying the number of students on its roll. Refused
    while a campaign whose scope overlaps is open for the same semester."""
    require_permission(actor, Permission.CAMPAIGN_MANAGE)
    unit = actor.unit
    if unit is None or unit.kind not in (UnitKind.NATIONAL, UnitKind.PROVINCE):
        raise Forbidden(_("只有国家级或省级学籍主管部门可以发起核准活动。"))
    province_code = (province_code or "").strip()
    if unit.kind == UnitKind.PROVINCE:
        if not province_code:
            raise Forbidden(_("省级学籍主管部门只能发起本省的核准活动。"))
        if province_code != unit.area_prefix[:2]:
            raise NotFound("province")
    today = clock.today()
    errors = campaign_errors(
        school_year=school_year, semester=semester, deadline=deadline, today=today
    )
    if province_code and not _province_known(province_code):
        errors.append(
            FieldError("province_code", "campaign.province_unknown", _("未知的省份代码。"))
        )
    if errors:
        raise ValidationFailed(errors)
    title = (title or "").strip()[:128] or default_title(
        school_year=school_year, semester=semester, scope_name=scope_name(province_code)
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [OPENING_LOCK])
        clash = Campaign.objects.filter(
            state=CampaignState.OPEN, school_year=school_year, semester=semester
        )
        if province_code:
            clash = clash.filter(Q(province_code="") | Q(province_code=province_code))
        existing = clash.first()
        if existing is not None:
            raise Conflict(
                "campaign.overlap",
                _("本学期已有范围重叠、正在进行的核准活动：%s") % existing.title,
                {"campaign_id": existing.pk},
            )
        campaign = Campaign.objects.create(
            province_code=province_code,
            school_year=school_year,
            semester=semester,
            title=title,
            deadline=deadline,
            opened_at=clock.now(),
            opened_by=actor,
            opened_by_username=actor.username,
        )
        campaign.schools_total = _confirmations_insert(campaign)
        campaign.save(update_fields=["schools_total"])
        audit_record(
            actor=actor,
            action=AuditAction.CAMPAIGN_OPEN,
            object_type=ObjectType.CAMPAIGN,
            object_id=campaign.pk,
            summary=f"发起学籍核准：{title}",  # stored data: always Chinese
            detail={
                "province_code": province_code,
                "school_year": school_year,
                "semester": semester,
                "deadline": deadline.isoformat(),
                "schools": campaign.schools_total,
            },
        )
    return campaign


def _column(model: Any, field: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(field).column)


def _confirmations_insert(campaign: Campaign) -> int:
    """One INSERT…SELECT: a confirmation row for every open school in scope, with the
    number of students on its roll (one grouped pass over the status records)."""
    q = connection.ops.quote_name
    conf, school, record = SchoolConfirmation, School, StatusRecord
    columns = [
        _column(conf, name)
        for name in (
            "campaign",
            "school",
            "area_code",
            "province_code",
            "state",
            "total",
            "present",
            "absent",
            "data_wrong",
            "unmarked",
            "note",
            "signed_off_by_username",
        )
    ]
    states = sorted(ON_ROLL)
    record_where = f"r.{_column(record, 'state')} IN ({', '.join(['%s'] * len(states))})"
    school_where = f"s.{_column(school, 'state')} = %s"
    params: list[Any] = [campaign.pk, ConfirmationState.NOT_STARTED, *states]
    if campaign.province_code:
        record_where += f" AND r.{_column(record, 'province_code')} = %s"
        params.append(campaign.province_code)
    params.append(SchoolState.OPEN)
    if campaign.province_code:
        school_where += f" AND s.{_column(school, 'province_code')} = %s"
        params.append(campaign.province_code)
    record_school = _column(record, "school")
    sql = (
        f"INSERT INTO {q(conf._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT %s, s.{_column(school, 'id')}, s.{_column(school, 'area_code')}, "
        f"s.{_column(school, 'province_code')}, %s, COALESCE(c.n, 0), 0, 0, 0, "
        "COALESCE(c.n, 0), '', '' "
        f"FROM {q(school._meta.db_table)} s LEFT JOIN ("
        f"SELECT r.{record_school} AS school_id, COUNT(*) AS n "
        f"FROM {q(record._meta.db_table)} r WHERE {record_where} GROUP BY r.{record_school}"
        f") c ON c.school_id = s.{_column(school, 'id')} "
        f"WHERE {school_where}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def campaign_close(*, actor: Any, campaign_id: int) -> Campaign:
    """End a campaign (the national level, or the province of a provincial campaign). No
    marking or sign-off afterwards; the marks stay as evidence. Open overdue warnings of
    its schools are resolved: the campaign they were about is over."""
    require_permission(actor, Permission.CAMPAIGN_MANAGE)
    unit = actor.unit
    refusal = _("只有发起该核准活动的国家级或省级学籍主管部门可以结束它。")
    # The level first: below the province nobody closes, whatever the campaign.
    if unit is None or unit.kind not in (UnitKind.NATIONAL, UnitKind.PROVINCE):
        raise Forbidden(refusal)
    campaign = access_campaign(actor, campaign_id)
    if unit.kind == UnitKind.PROVINCE and campaign.province_code != unit.area_prefix[:2]:
        raise Forbidden(refusal)
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.state != CampaignState.OPEN:
            raise Conflict("campaign.closed", _("该核准活动已结束。"))
        campaign.state = CampaignState.CLOSED
        campaign.closed_at = clock.now()
        campaign.closed_by_username = actor.username
        campaign.save(update_fields=["state", "closed_at", "closed_by_username"])
        unsigned = SchoolConfirmation.objects.filter(campaign=campaign).exclude(
            state=ConfirmationState.SIGNED_OFF
        )
        audit_record(
            actor=actor,
            action=AuditAction.CAMPAIGN_CLOSE,
            object_type=ObjectType.CAMPAIGN,
            object_id=campaign.pk,
            summary=f"结束学籍核准：{campaign.title}",  # stored data: always Chinese
            detail={"unsigned_schools": unsigned.count()},
        )
        warned = (
            EarlyWarning.objects.filter(
                kind=OVERDUE_KIND,
                subject_type=CONFIRMATION_SUBJECT,
                resolved_at__isnull=True,
                detail__campaign_id=campaign.pk,
            )
            .values_list("subject_id", flat=True)
            .distinct()
        )
        for subject_id in list(warned):
            warning_resolve(
                subject_type=CONFIRMATION_SUBJECT,
                subject_id=subject_id,
                kind=OVERDUE_KIND,
                reason="核准活动已结束",  # stored data: always Chinese
                actor=actor,
            )
    return campaign


# ---------------------------------------------------------------- the school's roll


def _for_marking(actor: Any, campaign_id: int) -> tuple[Campaign, SchoolConfirmation]:
    """The campaign and the actor's school's confirmation, locked; refused unless the
    actor is a clerk of a school in the campaign, the campaign is open and the school has
    not signed off. Call inside a transaction."""
    require_permission(actor, Permission.CAMPAIGN_CONFIRM)
    campaign = access_campaign(actor, campaign_id)
    school_id = own_school_id(actor)
    if school_id is None:
        raise Forbidden(_("只有学校的学籍管理员可以核准本校名册。"))
    confirmation = (
        SchoolConfirmation.objects.select_for_update()
        .filter(campaign=campaign, school_id=school_id)
        .first()
    )
    if confirmation is None:
        raise NotFound("confirmation")
    confirmation.campaign = campaign
    if campaign.state != CampaignState.OPEN:
        raise Conflict("campaign.closed", _("该核准活动已结束，不能再修改。"))
    if confirmation.state == ConfirmationState.SIGNED_OFF:
        raise Conflict("confirmation.signed_off", _("本校已签报，名册不能再修改。"))
    return campaign, confirmation


def _on_roll(school_id: int) -> QuerySet[StatusRecord]:
    return StatusRecord.objects.filter(school_id=school_id, state__in=ON_ROLL)


def _marks_insert(confirmation: SchoolConfirmation) -> int:
    """One INSERT…SELECT: an unmarked mark for every student on the school's roll who has
    no mark in the campaign yet."""
    q = connection.ops.quote_name
    mark, record = RollMark, StatusRecord
    columns = [
        _column(mark, name)
        for name in (
            "campaign",
            "school",
            "student",
            "area_code",
            "province_code",
            "mark",
            "note",
            "marked_by_username",
        )
    ]
    states = sorted(ON_ROLL)
    student = _column(record, "student")
    sql = (
        f"INSERT INTO {q(mark._meta.db_table)} ({', '.join(columns)}) "
        f"SELECT %s, r.{_column(record, 'school')}, r.{student}, r.{_column(record, 'area_code')}, "
        f"r.{_column(record, 'province_code')}, %s, '', '' "
        f"FROM {q(record._meta.db_table)} r "
        f"WHERE r.{_column(record, 'school')} = %s "
        f"AND r.{_column(record, 'state')} IN ({', '.join(['%s'] * len(states))}) "
        f"AND NOT EXISTS (SELECT 1 FROM {q(mark._meta.db_table)} m "
        f"WHERE m.{_column(mark, 'campaign')} = %s AND m.{_column(mark, 'student')} = r.{student})"
    )
    params: list[Any] = [
        confirmation.campaign_id,
        str(Mark.UNMARKED),
        confirmation.school_id,
        *states,
        confirmation.campaign_id,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _roll_sync(confirmation: SchoolConfirmation, *, actor: Any) -> dict[str, int]:
    """Bring the school's roll in line with its status records, set-based:

    - a student now on this roll whose mark in the campaign is still unmarked at another
      school (transferred in) has that mark moved here;
    - an unmarked mark here of a student no longer on this roll is dropped (a set mark is
      kept: it is what the school saw);
    - every student on the roll without a mark gets an unmarked one.

    A student already marked elsewhere in this campaign has been confirmed this semester
    and is not asked for again. The schools that lost marks are recounted too.
    """
    campaign_id, school_id = confirmation.campaign_id, confirmation.school_id
    school = confirmation.school
    moving = (
        RollMark.objects.filter(
            campaign_id=campaign_id,
            mark=Mark.UNMARKED,
            student_id__in=_on_roll(school_id).values("student_id"),
        )
        .exclude(school_id=school_id)
        .order_by()
    )
    losers = sorted(set(moving.values_list("school_id", flat=True)))
    moved = 0
    if losers:
        # Lock the schools that lose marks before changing them (their counts follow).
        list(
            SchoolConfirmation.objects.select_for_update()
            .filter(campaign_id=campaign_id, school_id__in=losers)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        moved = moving.update(
            school_id=school_id, area_code=school.area_code, province_code=school.province_code
        )
    left = (
        RollMark.objects.filter(campaign_id=campaign_id, school_id=school_id, mark=Mark.UNMARKED)
        .exclude(Exists(_on_roll(school_id).filter(student_id=OuterRef("student_id"))))
        .order_by()
    )
    dropped, _by_model = left.delete()
    added = _marks_insert(confirmation)
    for other in SchoolConfirmation.objects.filter(campaign_id=campaign_id, school_id__in=losers):
        _recount(other)
    counts = {"added": added, "moved": moved, "dropped": dropped}
    if any(counts.values()):
        audit_record(
            actor=actor,
            action=AuditAction.CAMPAIGN_ROLL_SYNC,
            object_type=ObjectType.CONFIRMATION,
            object_id=confirmation.pk,
            summary=f"核准名册同步：新增 {added}，转入 {moved}，移出 {dropped}",  # stored data
            detail={**counts, "campaign_id": campaign_id, "school_id": school_id},
        )
    return counts


COUNT_FIELDS = ("total", "present", "absent", "data_wrong", "unmarked")


def _recount(confirmation: SchoolConfirmation) -> None:
    """The counts from the school's marks: one grouped query, one update."""
    counts = RollMark.objects.filter(
        campaign_id=confirmation.campaign_id, school_id=confirmation.school_id
    ).aggregate(
        total=Count("pk"),
        present=Count("pk", filter=Q(mark=Mark.PRESENT)),
        absent=Count("pk", filter=Q(mark=Mark.ABSENT)),
        data_wrong=Count("pk", filter=Q(mark=Mark.DATA_WRONG)),
        unmarked=Count("pk", filter=Q(mark=Mark.UNMARKED)),
    )
    for name in COUNT_FIELDS:
        setattr(confirmation, name, counts[name] or 0)
    confirmation.save(update_fields=list(COUNT_FIELDS))


def _ensure_roll(confirmation: SchoolConfirmation, *, actor: Any, now: datetime) -> bool:
    """Open the roll on first use (its marks created); ``True`` when this call opened it."""
    if confirmation.roll_opened_at is not None:
        return False
    _roll_sync(confirmation, actor=actor)
    confirmation.roll_opened_at = now
    confirmation.state = ConfirmationState.IN_PROGRESS
    confirmation.save(update_fields=["roll_opened_at", "state"])
    return True


def _unasked(school_id: int, campaign_id: int) -> QuerySet[StatusRecord]:
    """Students on the school's roll with no mark anywhere in the campaign: the ones the
    roll still has to ask about (a student already marked at another school was
    confirmed this semester)."""
    return _on_roll(school_id).exclude(
        Exists(RollMark.objects.filter(campaign_id=campaign_id, student_id=OuterRef("student_id")))
    )


def _roll_stale(confirmation: SchoolConfirmation) -> bool:
    """Whether the school's roll lags behind its status records: before the roll is opened,
    its count differs from the students to ask about; once opened, a student on the roll
    has no mark yet (registered or transferred in since), or an unmarked mark is of a
    student who has left."""
    campaign_id, school_id = confirmation.campaign_id, confirmation.school_id
    if confirmation.roll_opened_at is None:
        return _unasked(school_id, campaign_id).count() != confirmation.total
    if _unasked(school_id, campaign_id).exists():
        return True
    if (
        RollMark.objects.filter(campaign_id=campaign_id, mark=Mark.UNMARKED)
        .exclude(school_id=school_id)
        .filter(student_id__in=_on_roll(school_id).values("student_id"))
        .exists()
    ):
        return True
    return (
        RollMark.objects.filter(campaign_id=campaign_id, school_id=school_id, mark=Mark.UNMARKED)
        .exclude(Exists(_on_roll(school_id).filter(student_id=OuterRef("student_id"))))
        .exists()
    )


def roll_refresh(*, actor: Any, campaign_id: int, school_id: int) -> bool:
    """Bring a school's roll up to date before it is shown (page or API), so the list, its
    counts and the sign-off button agree with the school's status records: students
    registered or transferred in since the roll was opened appear unmarked, unmarked
    students who left are dropped. Before the roll is opened only its count is brought
    up to date. Nothing happens once the school signed off or the campaign closed (the
    roll is then what was confirmed). ``True`` when something changed. The viewer must
    see the roll (the school or an authority above it; else not found)."""
    campaign = access_campaign(actor, campaign_id)
    access_confirmation(actor, campaign, school_id)
    if campaign.state != CampaignState.OPEN:
        return False
    current = SchoolConfirmation.objects.filter(campaign=campaign, school_id=school_id).first()
    if current is None or current.state == ConfirmationState.SIGNED_OFF:
        return False
    if not _roll_stale(current):
        return False
    with transaction.atomic():
        confirmation = (
            SchoolConfirmation.objects.select_for_update()
            .select_related("school")
            .get(pk=current.pk)
        )
        if confirmation.state == ConfirmationState.SIGNED_OFF:
            return False
        if confirmation.roll_opened_at is None:
            confirmation.total = confirmation.unmarked = _unasked(school_id, campaign.pk).count()
            confirmation.save(update_fields=["total", "unmarked"])
        else:
            _roll_sync(confirmation, actor=actor)
            _recount(confirmation)
    return True


def roll_open(*, actor: Any, campaign_id: int) -> SchoolConfirmation:
    """The school's clerk opens (or refreshes) its roll: one mark per student on the roll,
    transferred-in students added and those who left dropped (``_roll_sync``)."""
    with transaction.atomic():
        _campaign, confirmation = _for_marking(actor, campaign_id)
        now = clock.now()
        if not _ensure_roll(confirmation, actor=actor, now=now):
            _roll_sync(confirmation, actor=actor)
        _recount(confirmation)
        audit_record(
            actor=actor,
            action=AuditAction.CAMPAIGN_ROLL_OPEN,
            object_type=ObjectType.CONFIRMATION,
            object_id=confirmation.pk,
            summary=f"打开核准名册（{confirmation.total} 人）",  # stored data: always Chinese
            detail={"campaign_id": campaign_id, "school_id": confirmation.school_id},
        )
    return confirmation


def _mark_values(mark: str, note: str, actor: Any, now: datetime) -> dict[str, Any]:
    unmarked = mark == Mark.UNMARKED
    return {
        "mark": mark,
        "note": "" if unmarked else note,
        "marked_at": None if unmarked else now,
        "marked_by": None if unmarked else actor,
        "marked_by_username": "" if unmarked else actor.username,
    }


def _mark_error(mark: str) -> list[FieldError]:
    if mark in Mark.values:
        return []
    return [FieldError("mark", "mark.unknown", _("标记须为：在校、缺、信息有误或未标记。"), mark)]


def _student_ids(values: Iterable[Any], field: str = "student_ids") -> list[int]:
    try:
        ids = list(dict.fromkeys(int(value) for value in values))
    except (TypeError, ValueError):
        raise ValidationFailed(
            [FieldError(field, "student_ids.invalid", _("学生编号须为整数。"))]
        ) from None
    if len(ids) > MARK_BATCH_LIMIT:
        raise ValidationFailed(
            [
                FieldError(
                    field,
                    "student_ids.too_many",
                    _("一次最多标记 %d 名学生；全校请用“全部在校（除已标记外）”。")
                    % MARK_BATCH_LIMIT,
                )
            ]
        )
    return ids


def _advance(confirmation: SchoolConfirmation) -> None:
    if confirmation.state == ConfirmationState.NOT_STARTED:
        confirmation.state = ConfirmationState.IN_PROGRESS
        confirmation.save(update_fields=["state"])


def roll_mark(
    *, actor: Any, campaign_id: int, student_ids: Iterable[Any], mark: str, note: str = ""
) -> SchoolConfirmation:
    """Mark one student or a list of students of the actor's school (present, absent,
    data wrong; ``unmarked`` undoes a mark). Every named student must be on the school's
    roll in this campaign, else nothing changes (not found). The note (why absent, what is
    wrong) replaces the previous one."""
    ids = _student_ids(student_ids)
    errors = _mark_error(mark)
    if not ids:
        errors.append(FieldError("student_ids", "student_ids.empty", _("请选择学生。")))
    if errors:
        raise ValidationFailed(errors)
    note = (note or "").strip()[:255]
    with transaction.atomic():
        campaign, confirmation = _for_marking(actor, campaign_id)
        now = clock.now()
        _ensure_roll(confirmation, actor=actor, now=now)
        rows = RollMark.objects.filter(
            campaign=campaign, school_id=confirmation.school_id, student_id__in=ids
        )
        if rows.count() != len(ids):
            raise NotFound("student")
        rows.update(**_mark_values(mark, note, actor, now))
        _recount(confirmation)
        _advance(confirmation)
        audit_record(
            actor=actor,
            action=AuditAction.CAMPAIGN_MARK,
            object_type=ObjectType.CONFIRMATION,
            object_id=confirmation.pk,
            summary=format_lazy("核准标记：{} 名学生标为“{}”", len(ids), Mark(mark).label),
            detail={"mark": mark, "student_ids": ids[:200], "count": len(ids), "note": note},
        )
    return confirmation


def roll_mark_all_present_except(
    *,
    actor: Any,
    campaign_id: int,
    except_ids: dict[Any, str] | None = None,
    grade: str = "",
    class_name: str = "",
) -> SchoolConfirmation:
    """The one action "all present except": every student of the roll still unmarked
    becomes present, except the students in ``except_ids``, who get the mark given there.
    Marks already set are kept. ``grade`` and ``class_name`` narrow the action to part of
    the roll (a class teacher's list)."""
    given = dict(except_ids or {})
    ids = _student_ids(given.keys(), "except_ids")
    marks = [str(value) for value in given.values()]
    errors = [error for mark in dict.fromkeys(marks) for error in _mark_error(mark)]
    if errors:
        raise ValidationFailed(errors)
    by_mark: dict[str, list[int]] = defaultdict(list)
    for student_id, mark in zip(ids, marks, strict=True):
        by_mark[mark].append(student_id)
    with transaction.atomic():
        campaign, confirmation = _for_marking(actor, campaign_id)
        now = clock.now()
        _ensure_roll(confirmation, actor=actor, now=now)
        roll = RollMark.objects.filter(campaign=campaign, school_id=confirmation.school_id)
        if ids and roll.filter(student_id__in=ids).count() != len(ids):
            raise NotFound("student")
        for mark, students in by_mark.items():
            roll.filter(student_id__in=students).update(**_mark_values(mark, "", actor, now))
        rest = roll.filter(mark=Mark.UNMARKED).exclude(student_id__in=ids)
        if grade:
            rest = rest.filter(student__record__grade=grade)
        if class_name:
            rest = rest.filter(student__record__class_name=class_name)
        present = rest.update(**_mark_values(Mark.PRESENT, "", actor, now))
        _recount(confirmation)
        _advance(confirmation)
        audit_record(
            actor=actor,
            action=AuditAction.CAMPAIGN_MARK_ALL_PRESENT,
            object_type=ObjectType.CONFIRMATION,
            object_id=confirmation.pk,
            summary=f"核准标记：{present} 名学生全部在校，另 {len(ids)} 名单独标记",  # stored
            detail={
                "present": present,
                "except": {str(k): v for k, v in list(zip(ids, marks, strict=True))[:200]},
                "grade": grade,
                "class_name": class_name,
            },
        )
    return confirmation


# ---------------------------------------------------------------- sign-off


def unexplained_marks(campaign: Campaign, school_id: int) -> QuerySet[RollMark]:
    """Marks "data wrong" of the school that nothing explains: no note on the mark, no
    change request filed for the student since the campaign opened (withdrawn ones do not
    count), and no correction of the student's basic information since then."""
    since = campaign.opened_at
    return (
        RollMark.objects.filter(
            campaign=campaign, school_id=school_id, mark=Mark.DATA_WRONG, note=""
        )
        .exclude(
            Exists(
                ChangeRequest.objects.filter(
                    student_id=OuterRef("student_id"), filed_at__gte=since
                ).exclude(state=RequestState.WITHDRAWN)
            )
        )
        .exclude(
            Exists(
                BasicInfoRevision.objects.filter(student_id=OuterRef("student_id"), at__gte=since)
            )
        )
    )


def school_sign_off(*, actor: Any, campaign_id: int, note: str = "") -> SchoolConfirmation:
    """The school signs its roll off. The roll is brought up to date first (students who
    joined since it was opened appear unmarked, and that refresh is kept); then refused
    while any student is unmarked or any "data wrong" mark is unexplained
    (``unexplained_marks``). Signing off resolves the school's overdue warning."""
    note = (note or "").strip()[:2000]
    refusal = None
    with transaction.atomic():
        campaign, confirmation = _for_marking(actor, campaign_id)
        now = clock.now()
        if not _ensure_roll(confirmation, actor=actor, now=now):
            _roll_sync(confirmation, actor=actor)
        _recount(confirmation)
        unexplained = list(
            unexplained_marks(campaign, confirmation.school_id).values_list(
                "student_id", flat=True
            )[:50]
        )
        refusal = sign_off_refusal(unmarked=confirmation.unmarked, unexplained=len(unexplained))
        if refusal is None:
            confirmation.state = ConfirmationState.SIGNED_OFF
            confirmation.signed_off_at = now
            confirmation.signed_off_by = actor
            confirmation.signed_off_by_username = actor.username
            confirmation.note = note
            confirmation.save(
                update_fields=[
                    "state",
                    "signed_off_at",
                    "signed_off_by",
                    "signed_off_by_username",
                    "note",
                ]
            )
            audit_record(
                actor=actor,
                action=AuditAction.CAMPAIGN_SIGN_OFF,
                object_type=ObjectType.CONFIRMATION,
                object_id=confirmation.pk,
                summary=(
                    f"学籍核准签报：在校 {confirmation.present}，缺 {confirmation.absent}，"
                    f"信息有误 {confirmation.data_wrong}"
                ),  # stored data: always Chinese
                detail={
                    "campaign_id": campaign.pk,
                    **{name: getattr(confirmation, name) for name in COUNT_FIELDS},
                },
            )
            warning_resolve(
                subject_type=CONFIRMATION_SUBJECT,
                subject_id=confirmation.pk,
                kind=OVERDUE_KIND,
                reason="学校已签报",  # stored data: always Chinese
                actor=actor,
                now=now,
            )
    if refusal is not None:
        # Raised after the commit: the refreshed roll stays, so the page shows what is missing.
        raise Conflict(
            refusal.code,
            refusal.message,
            {"unmarked": confirmation.unmarked, "unexplained_student_ids": unexplained},
        )
    return confirmation


# ---------------------------------------------------------------- the daily sweep

SWEEP_CHUNK = 1000


def campaigns_overdue_sweep(*, today: date | None = None) -> dict[str, int]:
    """Every school of an open campaign not signed off after its deadline gets an early
    warning, and so does the level above it (``warning_raise`` escalates to the school
    unit's parent, the county). Idempotent: an open warning is touched, never doubled.
    Returns how many campaigns were past their deadline and how many schools were late."""
    today = today or clock.today()
    now = clock.now()
    counts = {"campaigns": 0, "overdue": 0}
    for campaign in Campaign.objects.filter(state=CampaignState.OPEN, deadline__lt=today):
        counts["campaigns"] += 1
        late = (
            SchoolConfirmation.objects.filter(campaign=campaign)
            .exclude(state=ConfirmationState.SIGNED_OFF)
            .select_related("school__unit__parent")
            .order_by("pk")
        )
        last = 0
        while True:
            chunk = list(late.filter(pk__gt=last)[:SWEEP_CHUNK])
            if not chunk:
                break
            last = chunk[-1].pk
            for confirmation in chunk:
                school = confirmation.school
                warning_raise(
                    kind=OVERDUE_KIND,
                    unit=school.unit,
                    subject_type=CONFIRMATION_SUBJECT,
                    subject_id=confirmation.pk,
                    # stored data: always Chinese
                    message=(
                        f"{school.name}未在截止日期（{campaign.deadline.isoformat()}）前完成"
                        f"学籍核准签报：{campaign.title}"
                    ),
                    due_date=campaign.deadline,
                    detail={
                        "campaign_id": campaign.pk,
                        "school_id": school.pk,
                        "unmarked": confirmation.unmarked,
                        "total": confirmation.total,
                        "url": reverse("verification:roll", args=[campaign.pk, school.pk]),
                    },
                    escalate=True,
                    now=now,
                )
                counts["overdue"] += 1
    return counts
