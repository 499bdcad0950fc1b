"""The detectors: each source of each anomaly kind is one set-based read (a few SQL
statements over the whole registry, never a query per student) returning what it saw,
keyed by subject, with the unit that must act and the evidence.

``xueji.anomalies.services.detector_run`` turns what they return into findings (bulk
inserts and updates, and the resolution of findings no longer seen). The campaign marks
come from ``xueji.verification`` (``selectors.marks_for_detectors``), the attendance
sightings from this app's import, the rest from the registry and the change engine.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import reduce
from operator import or_
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Exists, F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import ChangeType, RequestState, StepState, semester_of
from xueji.enrolment.models import StatusEvent, StatusRecord
from xueji.enrolment.rules import ON_ROLL, EventKind, StatusState
from xueji.schools.models import School
from xueji.schools.rules import GRADES, SchoolState
from xueji.students.duplicates import score_name
from xueji.students.models import Guardian, NumberKind, Student, StudentNumber
from xueji.students.rules import IdType
from xueji.verification.models import RollMark, SchoolConfirmation
from xueji.verification.rules import SEEN_MARKS, CampaignState, ConfirmationState, Mark
from xueji.verification.selectors import marks_for_detectors

from .models import AttendanceSighting
from .routing import UnitMap
from .rules import (
    FindingKind,
    Source,
    age_band,
    age_on,
    months_before,
    school_year_start,
    threshold,
)

Key = tuple[int, int | None]


@dataclass
class Found:
    """What one source saw about one subject: who must act, and the evidence."""

    unit_id: int
    evidence: dict[str, Any]


@dataclass
class Context:
    """One detector run: the day it judges by, the thresholds, the unit tree."""

    today: date
    now: datetime
    config: Mapping[str, Any] = field(default_factory=dict)
    units: UnitMap = field(default_factory=UnitMap)
    progress: Callable[[str], None] = lambda message: None
    cache: dict[str, Any] = field(default_factory=dict)

    def setting(self, key: str) -> Any:
        return threshold(self.config, key)


def context_for(*, today: date, now: datetime, progress=None) -> Context:
    return Context(
        today=today,
        now=now,
        config=getattr(settings, "XUEJI", {}),
        progress=progress or (lambda message: None),
    )


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    return value.isoformat()


def _day_start(day: date) -> datetime:
    """Midnight at the start of ``day``, Shanghai time."""
    return timezone.make_aware(datetime.combine(day, datetime.min.time()))


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _col(model: Any, name: str) -> str:
    return _q(model._meta.get_field(name).column)


# ---------------------------------------------------------------- duplicates (rules)


def _pair_sql(join: str, select_extra: str = "") -> str:
    """Pairs of live records (neither cancelled) of two students, excluding two holders of
    resident ID cards (two checked ID numbers: two people, as the linkage also holds)."""
    record = _q(StatusRecord._meta.db_table)
    sid, rid = _col(Student, "id"), _col(StatusRecord, "student")
    school, state = _col(StatusRecord, "school"), _col(StatusRecord, "state")
    id_type, id_key = _col(Student, "id_type"), _col(Student, "id_key")
    return f"""
        SELECT DISTINCT a.{sid}, b.{sid}, ra.{school}, rb.{school}{select_extra}
          FROM {join}
          JOIN {record} ra ON ra.{rid} = a.{sid}
          JOIN {record} rb ON rb.{rid} = b.{sid}
         WHERE ra.{state} <> %s AND rb.{state} <> %s
           AND NOT (a.{id_type} = %s AND b.{id_type} = %s
                    AND a.{id_key} IS NOT NULL AND b.{id_key} IS NOT NULL)
    """


def _pair_params() -> list[Any]:
    return [StatusState.CANCELLED, StatusState.CANCELLED, IdType.RESIDENT_ID, IdType.RESIDENT_ID]


def duplicates_by_rule(ctx: Context) -> dict[Key, Found]:
    """Two live records with the same name, birth date and sex; or the same guardian ID
    and birth date and sex with similar names (characters or pinyin)."""
    student = _q(Student._meta.db_table)
    guardian = _q(Guardian._meta.db_table)
    sid = _col(Student, "id")
    name, born, sex = _col(Student, "name"), _col(Student, "birth_date"), _col(Student, "sex")
    name_key = _col(Student, "name_key")
    g_student, g_key = _col(Guardian, "student"), _col(Guardian, "id_key")
    found: dict[Key, Found] = {}
    reasons: dict[Key, set[str]] = defaultdict(set)
    scores: dict[Key, int] = {}
    schools: dict[Key, tuple[int, int]] = {}

    same_name = _pair_sql(
        f"{student} a JOIN {student} b ON b.{born} = a.{born} AND b.{sex} = a.{sex} "
        f"AND b.{name} = a.{name} AND b.{sid} > a.{sid}"
    )
    ctx.progress("duplicate: same name, birth date and sex")
    with connection.cursor() as cursor:
        cursor.execute(same_name, _pair_params())
        for a, b, school_a, school_b in cursor.fetchall():
            key = (a, b)
            reasons[key] |= {"name_same", "birth_date_same", "sex_same"}
            scores[key] = 100
            schools[key] = (school_a, school_b)

    same_guardian = _pair_sql(
        f"{guardian} ga JOIN {guardian} gb ON gb.{g_key} = ga.{g_key} "
        f"AND gb.{g_student} > ga.{g_student} "
        f"JOIN {student} a ON a.{sid} = ga.{g_student} "
        f"JOIN {student} b ON b.{sid} = gb.{g_student} AND b.{born} = a.{born} AND b.{sex} = a.{sex}",
        select_extra=f", a.{name}, a.{name_key}, b.{name}, b.{name_key}",
    ).replace("WHERE", f"WHERE ga.{g_key} IS NOT NULL AND", 1)
    ctx.progress("duplicate: same guardian ID, birth date and sex")
    threshold_score = int(getattr(settings, "XUEJI", {}).get("DUPLICATE_NAME_SCORE", 85))
    with connection.cursor() as cursor:
        cursor.execute(same_guardian, _pair_params())
        for a, b, school_a, school_b, name_a, key_a, name_b, key_b in cursor.fetchall():
            score, _texts = score_name(name_a, key_a or "", name_b, key_b or "")
            if score < threshold_score:
                continue
            key = (a, b)
            reasons[key] |= {"guardian_same", "birth_date_same", "sex_same"}
            reasons[key].add("name_same" if name_a == name_b else "name_similar")
            scores[key] = max(scores.get(key, 0), score)
            schools[key] = (school_a, school_b)

    ctx.units.load_schools(s for pair in schools.values() for s in pair)
    for key, (school_a, school_b) in schools.items():
        found[key] = Found(
            unit_id=ctx.units.schools_common(school_a, school_b),
            evidence={"reasons": sorted(reasons[key]), "name_score": scores[key]},
        )
    return found


def duplicates_from_linkage(ctx: Context, result: Any) -> dict[Key, Found]:
    """The pairs of a ``linkage.LinkageResult`` whose records are both still live."""
    pairs = {(min(p.id_l, p.id_r), max(p.id_l, p.id_r)): p for p in result.pairs}
    ids = sorted({i for key in pairs for i in key})
    live: dict[int, int] = {}
    for start in range(0, len(ids), 5000):
        live.update(
            StatusRecord.objects.filter(student_id__in=ids[start : start + 5000])
            .exclude(state=StatusState.CANCELLED)
            .values_list("student_id", "school_id")
        )
    cluster_of: dict[int, tuple[int, ...]] = {}
    for cluster in result.clusters:
        if len(cluster) > 2:
            for member in cluster:
                cluster_of[member] = tuple(cluster)
    ctx.units.load_schools(live.values())
    found: dict[Key, Found] = {}
    for key, pair in pairs.items():
        if key[0] not in live or key[1] not in live:
            continue
        evidence: dict[str, Any] = {
            "probability": round(float(pair.probability), 6),
            "match_weight": round(float(pair.match_weight), 3),
            "reasons": list(pair.reasons),
            "backend": getattr(result, "backend", ""),
        }
        if key[0] in cluster_of:
            evidence["cluster"] = list(cluster_of[key[0]])
        found[key] = Found(
            unit_id=ctx.units.schools_common(live[key[0]], live[key[1]]), evidence=evidence
        )
    return found


# ---------------------------------------------------------------- campaigns and sightings


def latest_absences(ctx: Context) -> dict[int, dict[str, Any]]:
    """Students whose latest campaign mark is "absent" at the school that still holds
    their record (enrolled), once that school signed off or the campaign closed."""
    if "absences" in ctx.cache:
        return ctx.cache["absences"]
    # A later mark by the same school supersedes the absence; marks elsewhere are
    # evidence of a separation, not a correction.
    later = (
        RollMark.objects.filter(student_id=OuterRef("student_id"), school_id=OuterRef("school_id"))
        .exclude(mark=Mark.UNMARKED)
        .filter(
            Q(campaign__school_year__gt=OuterRef("campaign__school_year"))
            | Q(
                campaign__school_year=OuterRef("campaign__school_year"),
                campaign__semester__gt=OuterRef("campaign__semester"),
            )
            | Q(
                campaign__school_year=OuterRef("campaign__school_year"),
                campaign__semester=OuterRef("campaign__semester"),
                campaign_id__gt=OuterRef("campaign_id"),
            )
        )
    )
    signed_off = SchoolConfirmation.objects.filter(
        campaign_id=OuterRef("campaign_id"),
        school_id=OuterRef("school_id"),
        state=ConfirmationState.SIGNED_OFF,
    )
    held_here = StatusRecord.objects.filter(
        pk=OuterRef("student_id"), school_id=OuterRef("school_id"), state=StatusState.ENROLLED
    )
    rows = (
        marks_for_detectors(mark=Mark.ABSENT)
        .filter(Q(campaign__state=CampaignState.CLOSED) | Exists(signed_off))
        .filter(Exists(held_here))
        .exclude(Exists(later))
        .values_list(
            "student_id",
            "school_id",
            "campaign_id",
            "campaign__title",
            "campaign__school_year",
            "campaign__semester",
            "marked_at",
            "marked_by_username",
            "note",
        )
    )
    absences: dict[int, dict[str, Any]] = {}
    for student_id, school_id, campaign_id, title, year, semester, at, by, note in rows:
        absences[student_id] = {
            "school_id": school_id,
            "campaign_id": campaign_id,
            "campaign": title,
            "school_year": year,
            "semester": semester,
            "marked_at": _iso(at),
            "marked_by": by,
            "note": note,
        }
    ctx.cache["absences"] = absences
    return absences


def _absent_ids(ctx: Context) -> list[int]:
    return sorted(latest_absences(ctx))


def elsewhere_by_campaign(ctx: Context) -> dict[int, list[dict[str, Any]]]:
    """For students absent at their school: a "present" (or "data wrong") mark at another
    school in the same semester, or an open transfer to another school."""
    if "elsewhere" in ctx.cache:
        return ctx.cache["elsewhere"]
    absences = latest_absences(ctx)
    elsewhere: dict[int, list[dict[str, Any]]] = defaultdict(list)
    ids = _absent_ids(ctx)
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        present = (
            marks_for_detectors(mark=None)
            .filter(mark__in=SEEN_MARKS, student_id__in=chunk)
            .values_list(
                "student_id",
                "school_id",
                "school__name",
                "campaign_id",
                "campaign__title",
                "campaign__school_year",
                "campaign__semester",
                "mark",
                "marked_at",
            )
        )
        for student_id, school_id, school_name, campaign_id, title, year, sem, mark, at in present:
            absent = absences[student_id]
            if school_id == absent["school_id"] or (year, sem) != (
                absent["school_year"],
                absent["semester"],
            ):
                continue
            elsewhere[student_id].append(
                {
                    "type": "present_elsewhere",
                    "school_id": school_id,
                    "school": school_name,
                    "campaign_id": campaign_id,
                    "campaign": title,
                    "mark": mark,
                    "marked_at": _iso(at),
                }
            )
        transfers = ChangeRequest.objects.filter(
            change_type=ChangeType.TRANSFER,
            state=RequestState.OPEN,
            student_id__in=chunk,
            target_school__isnull=False,
        ).values_list("id", "student_id", "target_school_id", "target_school__name", "filed_at")
        for request_id, student_id, school_id, school_name, filed_at in transfers:
            if school_id == absences[student_id]["school_id"]:
                continue
            elsewhere[student_id].append(
                {
                    "type": "transfer_elsewhere",
                    "school_id": school_id,
                    "school": school_name,
                    "request_id": request_id,
                    "filed_at": _iso(filed_at),
                }
            )
    ctx.cache["elsewhere"] = dict(elsewhere)
    return ctx.cache["elsewhere"]


def recent_sightings(ctx: Context) -> dict[int, list[dict[str, Any]]]:
    """Attendance-list sightings at a school other than the one holding the (enrolled)
    record, within the configured number of days and since the student arrived there."""
    if "sightings" in ctx.cache:
        return ctx.cache["sightings"]
    since = ctx.today - timedelta(days=int(ctx.setting("ANOMALY_SIGHTING_DAYS")))
    arrived = (
        StatusEvent.objects.filter(
            record_id=OuterRef("student_id"),
            kind__in=[
                EventKind.REGISTER,
                EventKind.IMPORT,
                EventKind.REACTIVATE,
                EventKind.TRANSFER_IN,
            ],
        )
        .order_by()
        .values("record_id")
        .annotate(latest=Max("effective_date"))
        .values("latest")
    )
    rows = (
        AttendanceSighting.objects.filter(
            seen_on__gte=since, student__record__state=StatusState.ENROLLED
        )
        .exclude(school_id=F("student__record__school_id"))
        .annotate(arrived=Subquery(arrived))
        .filter(Q(arrived__isnull=True) | Q(seen_on__gte=F("arrived")))
        .order_by("student_id", "-seen_on", "-pk")
        .values_list("student_id", "school_id", "school__name", "seen_on", "source")
    )
    sightings: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for student_id, school_id, school_name, seen_on, source in rows.iterator(chunk_size=5000):
        if len(sightings[student_id]) < 5:  # the latest few are evidence enough
            sightings[student_id].append(
                {
                    "school_id": school_id,
                    "school": school_name,
                    "seen_on": seen_on.isoformat(),
                    "source": source,
                }
            )
    ctx.cache["sightings"] = dict(sightings)
    return ctx.cache["sightings"]


def _record_schools(ids: Iterable[int]) -> dict[int, int]:
    wanted = sorted(set(ids))
    schools: dict[int, int] = {}
    for start in range(0, len(wanted), 5000):
        schools.update(
            StatusRecord.objects.filter(student_id__in=wanted[start : start + 5000]).values_list(
                "student_id", "school_id"
            )
        )
    return schools


def separation_by_campaign(ctx: Context) -> dict[Key, Found]:
    absences = latest_absences(ctx)
    elsewhere = elsewhere_by_campaign(ctx)
    ctx.units.load_schools(
        [a["school_id"] for a in absences.values()]
        + [e["school_id"] for items in elsewhere.values() for e in items]
    )
    found: dict[Key, Found] = {}
    for student_id, items in elsewhere.items():
        absent = absences[student_id]
        schools = [absent["school_id"], *(e["school_id"] for e in items)]
        found[(student_id, None)] = Found(
            unit_id=ctx.units.schools_common(*schools),
            evidence={"absent": absent, "elsewhere": items},
        )
    return found


def separation_by_sighting(ctx: Context) -> dict[Key, Found]:
    sightings = recent_sightings(ctx)
    holding = _record_schools(sightings)
    ctx.units.load_schools(
        list(holding.values()) + [s["school_id"] for items in sightings.values() for s in items]
    )
    found: dict[Key, Found] = {}
    for student_id, items in sightings.items():
        schools = [holding[student_id], *(s["school_id"] for s in items)]
        found[(student_id, None)] = Found(
            unit_id=ctx.units.schools_common(*schools),
            evidence={"school_id": holding[student_id], "sightings": items},
        )
    return found


def _separated(ctx: Context) -> set[int]:
    """Students with evidence of being elsewhere: separations, not empty records."""
    return set(elsewhere_by_campaign(ctx)) | set(recent_sightings(ctx))


def empty_by_campaign(ctx: Context) -> dict[Key, Found]:
    absences = latest_absences(ctx)
    separated = _separated(ctx)
    ctx.units.load_schools(a["school_id"] for a in absences.values())
    return {
        (student_id, None): Found(
            unit_id=ctx.units.school_unit(absent["school_id"]), evidence={"absent": absent}
        )
        for student_id, absent in absences.items()
        if student_id not in separated
    }


def empty_by_silence(ctx: Context) -> dict[Key, Found]:
    """Enrolled records with no sign of the student for the configured months: no event
    (yearly batches do not count) and no "present" campaign mark."""
    months = int(ctx.setting("ANOMALY_SILENT_MONTHS"))
    cutoff_day = months_before(ctx.today, months)
    cutoff = _day_start(cutoff_day)
    signs = StatusEvent.objects.filter(record_id=OuterRef("pk"), batch="")
    present = RollMark.objects.filter(student_id=OuterRef("pk"), mark__in=SEEN_MARKS)
    last_event = signs.order_by().values("record_id").annotate(at=Max("occurred_at")).values("at")
    last_present = (
        present.exclude(marked_at__isnull=True)
        .order_by()
        .values("student_id")
        .annotate(at=Max("marked_at"))
        .values("at")
    )
    rows = (
        StatusRecord.objects.filter(state=StatusState.ENROLLED, registered_at__lt=cutoff)
        .exclude(Exists(signs.filter(occurred_at__gte=cutoff)))
        .exclude(Exists(present.filter(marked_at__gte=cutoff)))
        .annotate(last_event=Subquery(last_event), last_present=Subquery(last_present))
        .values_list("student_id", "school_id", "last_event", "last_present")
    )
    separated = _separated(ctx)
    found: dict[Key, Found] = {}
    items = [r for r in rows.iterator(chunk_size=5000) if r[0] not in separated]
    ctx.units.load_schools(r[1] for r in items)
    for student_id, school_id, last_event_at, last_present_at in items:
        found[(student_id, None)] = Found(
            unit_id=ctx.units.school_unit(school_id),
            evidence={
                "months": months,
                "since": cutoff_day.isoformat(),
                "last_event": _iso(last_event_at),
                "last_present": _iso(last_present_at),
            },
        )
    return found


# ---------------------------------------------------------------- the change engine


def steps_overdue(ctx: Context) -> dict[Key, Found]:
    """Pending approval steps past their due date (deaths have their own kind)."""
    rows = (
        ApprovalStep.objects.filter(
            state=StepState.PENDING, due_date__lt=ctx.today, request__state=RequestState.OPEN
        )
        .exclude(request__change_type=ChangeType.DEATH)
        .values_list(
            "id",
            "seq",
            "party",
            "unit_id",
            "due_date",
            "activated_on",
            "days",
            "request_id",
            "request__student_id",
            "request__change_type",
        )
    )
    found: dict[Key, Found] = {}
    for step_id, seq, party, unit_id, due, activated, days, request_id, student_id, kind in rows:
        found[(student_id, None)] = Found(
            unit_id=unit_id,
            evidence={
                "request_id": request_id,
                "change_type": kind,
                "step_id": step_id,
                "seq": seq,
                "party": party,
                "days": days,
                "activated_on": _iso(activated),
                "due_date": _iso(due),
                "days_late": (ctx.today - due).days if due else None,
            },
        )
    return found


def deaths_overdue(ctx: Context) -> dict[Key, Found]:
    """Open death cancellations past their pending step's due date, or past the date of
    death plus the configured working days (60)."""
    from xueji.changes.services import authority_unit_for
    from xueji.workdays.rules import CalendarMissing
    from xueji.workdays.selectors import due_date

    workdays = int(ctx.setting("ANOMALY_DEATH_WORKDAYS"))
    requests = list(
        ChangeRequest.objects.filter(
            change_type=ChangeType.DEATH, state=RequestState.OPEN
        ).values_list("id", "student_id", "school_id", "payload", "filed_at")
    )
    steps = {
        request_id: (unit_id, due, party)
        for request_id, unit_id, due, party in ApprovalStep.objects.filter(
            request__change_type=ChangeType.DEATH,
            request__state=RequestState.OPEN,
            state=StepState.PENDING,
        ).values_list("request_id", "unit_id", "due_date", "party")
    }
    # One deadline per distinct date of death, not one per request.
    deadlines: dict[date, date | None] = {}
    for _id, _student, _school, payload, _filed in requests:
        died_on = _date((payload or {}).get("died_on"))
        if died_on is not None and died_on not in deadlines:
            try:
                deadlines[died_on] = due_date(died_on, workdays)
            except CalendarMissing:
                deadlines[died_on] = None
    authorities: dict[int, int] = {}
    found: dict[Key, Found] = {}
    for request_id, student_id, school_id, payload, filed_at in requests:
        died_on = _date((payload or {}).get("died_on"))
        death_due = deadlines.get(died_on) if died_on else None
        unit_id, step_due, party = steps.get(request_id, (None, None, ""))
        late_step = step_due is not None and step_due < ctx.today
        late_death = death_due is not None and death_due < ctx.today
        if not (late_step or late_death):
            continue
        if unit_id is None:
            if school_id not in authorities:
                authorities[school_id] = authority_unit_for(School.objects.get(pk=school_id)).pk
            unit_id = authorities[school_id]
        found[(student_id, None)] = Found(
            unit_id=unit_id,
            evidence={
                "request_id": request_id,
                "died_on": _iso(died_on),
                "death_due": _iso(death_due),
                "workdays": workdays,
                "step_due": _iso(step_due),
                "party": party,
                "filed_at": _iso(filed_at),
                "calendar_missing": died_on is not None and death_due is None,
            },
        )
    return found


def _date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


# ---------------------------------------------------------------- the record itself


def ages_out_of_line(ctx: Context) -> dict[Key, Found]:
    """Students on the roll whose age at the start of the school year lies outside their
    grade's band (special-education schools exempt by default)."""
    school_year, _semester = semester_of(ctx.today)
    reference = school_year_start(school_year)
    below = int(ctx.setting("ANOMALY_AGE_BELOW"))
    above = int(ctx.setting("ANOMALY_AGE_ABOVE"))
    bands = {
        grade: band
        for grade in GRADES
        if (band := age_band(grade, reference=reference, below=below, above=above)) is not None
    }
    out_of_band = reduce(
        or_,
        (
            Q(grade=grade)
            & (Q(student__birth_date__lt=band.earliest) | Q(student__birth_date__gt=band.latest))
            for grade, band in bands.items()
        ),
    )
    rows = (
        StatusRecord.objects.filter(state__in=ON_ROLL)
        .filter(out_of_band)
        .exclude(school__school_type__in=list(ctx.setting("ANOMALY_AGE_EXEMPT_SCHOOL_TYPES")))
        .values_list("student_id", "school_id", "grade", "student__birth_date")
    )
    items = list(rows.iterator(chunk_size=5000))
    ctx.units.load_schools(r[1] for r in items)
    found: dict[Key, Found] = {}
    for student_id, school_id, grade, born in items:
        band = bands[grade]
        found[(student_id, None)] = Found(
            unit_id=ctx.units.school_unit(school_id),
            evidence={
                "grade": grade,
                "birth_date": born.isoformat(),
                "age": age_on(born, reference),
                "usual_age": band.usual_age,
                "band": [max(band.usual_age - below, 0), band.usual_age + above],
                "reference": reference.isoformat(),
            },
        )
    return found


def temporary_numbers(ctx: Context) -> dict[Key, Found]:
    """Students on the roll still holding a temporary L number issued before the cutoff."""
    days = int(ctx.setting("ANOMALY_TEMP_NUMBER_DAYS"))
    # Issued before the start of the day ``days`` days ago (the day judged by, not the
    # moment the job runs).
    cutoff = _day_start(ctx.today - timedelta(days=days))
    issued = StudentNumber.objects.filter(number_key=OuterRef("student__number_key")).values(
        "issued_at"
    )[:1]
    rows = (
        StatusRecord.objects.filter(state__in=ON_ROLL, student__number_kind=NumberKind.L)
        .annotate(issued=Subquery(issued))
        .filter(Q(issued__lt=cutoff) | Q(issued__isnull=True, student__created_at__lt=cutoff))
        .values_list(
            "student_id", "school_id", "student__number_masked", "issued", "student__created_at"
        )
    )
    items = list(rows.iterator(chunk_size=5000))
    ctx.units.load_schools(r[1] for r in items)
    found: dict[Key, Found] = {}
    for student_id, school_id, number, issued_at, created_at in items:
        at = issued_at or created_at
        found[(student_id, None)] = Found(
            unit_id=ctx.units.school_unit(school_id),
            evidence={
                "number": number,  # stored masked
                "issued_at": _iso(at),
                "age_days": (ctx.today - timezone.localdate(at)).days,
                "max_days": days,
            },
        )
    return found


def closed_schools(ctx: Context) -> dict[Key, Found]:
    """Students still on the roll of a school that is closed or merged; the school's
    status authority must move them (to the successor, for a merged school)."""
    from xueji.changes.services import authority_unit_for

    rows = list(
        StatusRecord.objects.filter(state__in=ON_ROLL)
        .exclude(school__state=SchoolState.OPEN)
        .values_list(
            "student_id",
            "school_id",
            "school__state",
            "school__closed_on",
            "school__successor_id",
            "school__successor__name",
        )
        .iterator(chunk_size=5000)
    )
    # One authority per closed school, not per student.
    authorities = {
        school.pk: authority_unit_for(school).pk
        for school in School.objects.filter(pk__in={r[1] for r in rows})
    }
    found: dict[Key, Found] = {}
    for student_id, school_id, state, closed_on, successor_id, successor_name in rows:
        found[(student_id, None)] = Found(
            unit_id=authorities[school_id],
            evidence={
                "school_id": school_id,
                "school_state": state,
                "closed_on": _iso(closed_on),
                "successor_id": successor_id,
                "successor": successor_name or "",
            },
        )
    return found


# ---------------------------------------------------------------- the table of detectors

Finder = Callable[[Context], dict[Key, Found]]

DETECTORS: dict[str, dict[str, Finder]] = {
    FindingKind.DUPLICATE: {Source.RULE: duplicates_by_rule},
    FindingKind.EMPTY_RECORD: {
        Source.CAMPAIGN: empty_by_campaign,
        Source.SILENCE: empty_by_silence,
    },
    FindingKind.SEPARATION: {
        Source.CAMPAIGN: separation_by_campaign,
        Source.SIGHTING: separation_by_sighting,
    },
    FindingKind.STEP_OVERDUE: {Source.STEP: steps_overdue},
    FindingKind.DEATH_OVERDUE: {Source.DEATH: deaths_overdue},
    FindingKind.AGE_GRADE: {Source.AGE: ages_out_of_line},
    FindingKind.TEMPORARY_NUMBER: {Source.NUMBER: temporary_numbers},
    FindingKind.CLOSED_SCHOOL: {Source.SCHOOL: closed_schools},
}
