"""Demo activity on top of the synthetic registry, so every demo account meets real work:
transfers into the demo school waiting at the county, a suspension, a semester
confirmation campaign with the demo school's roll begun (two pupils marked absent, with
the reason; the school signs off, and the empty-record check reads the marks, once the
demo clerk has confirmed the rest), and children registered a second time (重复学籍) for
the review queues. Everything goes through the same services as the pages."""

from datetime import timedelta
from functools import lru_cache

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db.models import Q

from xueji import clock
from xueji.accounts.models import User
from xueji.anomalies.models import Finding
from xueji.anomalies.services import detect_all, linkage_run
from xueji.changes.models import ChangeRequest
from xueji.changes.rules import ChangeType, semester_of
from xueji.changes.services import change_file, rule_in_force, transfer_file
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.errors import DomainError
from xueji.exchange.synthetic import GIVEN
from xueji.schools.rules import grade_allowed
from xueji.students import identity
from xueji.students.models import Student
from xueji.students.names import homophones
from xueji.students.services import registration_view, student_register
from xueji.verification.models import Campaign, RollMark
from xueji.verification.rules import CampaignState, Mark
from xueji.verification.services import campaign_open, roll_mark, roll_open

# Grades never blocked by the default transfer rule (not an entry or a graduating grade).
_MIDDLE_GRADES = ("12", "13", "14", "15", "22", "32")


def ensure_demo_activity() -> list[str]:
    """Create the demo activity once; returns what was created (for the console)."""
    school_user = User.objects.select_related("unit__school").filter(username="demo-school").first()
    province_user = User.objects.filter(username="demo-province").first()
    if school_user is None or school_user.unit is None or school_user.unit.school is None:
        return []
    created: list[str] = []
    if not ChangeRequest.objects.exists():
        created += _transfers_and_changes(school_user)
    if province_user is not None and not Campaign.objects.exists():
        created += _campaign(province_user)
        created += _absences(school_user)
    if not Finding.objects.exists():
        created += _duplicates(school_user)
        created += _detect()
    return created


def _materials(change_type: str, province_code: str) -> list[tuple[str, UploadedFile]]:
    """A one-page placeholder PDF for each material the rule in force asks for."""
    rule = rule_in_force(change_type, province_code=province_code, at=clock.now()).rule
    body = b"%PDF-1.4\n% xueji demo material\n%%EOF\n"
    files: list[tuple[str, UploadedFile]] = [
        (kind, SimpleUploadedFile(f"{kind}.pdf", body, "application/pdf"))
        for kind in rule.materials
    ]
    return files


def _transfers_and_changes(school_user: User) -> list[str]:
    assert school_user.unit is not None and school_user.unit.school is not None
    school = school_user.unit.school
    done = []
    # Students elsewhere, in the same province and in another one, in a grade the demo
    # school teaches: the demo school receives them.
    sources = (
        StatusRecord.objects.filter(state=StatusState.ENROLLED, grade__in=_MIDDLE_GRADES)
        .exclude(school=school)
        .select_related("student")
    )
    picked = []
    for scope in (Q(province_code=school.province_code), ~Q(province_code=school.province_code)):
        for record in sources.filter(scope).order_by("pk")[:20]:
            if grade_allowed(school.school_type, record.grade):
                picked.append(record)
                break
    for record in picked:
        try:
            transfer_file(
                actor=school_user,
                student_number=identity.read_number(record.student),
                student_name=record.student.name,
                reason="随父母工作调动迁居",  # stored data: always Chinese
                payload={"class_name": "1班"},
                uploads=_materials(ChangeType.TRANSFER, school.province_code),
            )
            done.append(f"转学申请：{record.student.number_masked}")
        except DomainError:
            continue  # the rule in force asks for materials, or a blocked period: skip
    own = (
        StatusRecord.objects.filter(school=school, state=StatusState.ENROLLED)
        .order_by("pk")
        .first()
    )
    if own is not None:
        try:
            change_file(
                actor=school_user,
                student_id=own.pk,
                change_type=ChangeType.HOME_TAUGHT,
                effective_date=clock.today(),
                reason="因病长期居家，申请送教上门",  # stored data
                payload={"home_taught": True},
                uploads=_materials(ChangeType.HOME_TAUGHT, school.province_code),
            )
            done.append(f"送教上门申请：{own.pk}")
        except DomainError:
            pass  # the rule in force asks for materials the demo cannot invent
    return done


def _campaign(province_user: User) -> list[str]:
    if province_user.unit is None:
        return []
    today = clock.today()
    year, semester = semester_of(today)
    try:
        campaign_open(
            actor=province_user,
            province_code=province_user.unit.division_code[:2],
            school_year=year,
            semester=semester,
            deadline=today + timedelta(days=21),
            title="本学期学籍核准（演示）",  # stored data
        )
    except DomainError:
        return []
    return ["学期核准活动"]


def _absences(school_user: User) -> list[str]:
    """The demo school opens its roll and marks two pupils absent with a reason; the rest
    stay unmarked for the demo clerk to confirm."""
    campaign = Campaign.objects.filter(state=CampaignState.OPEN).order_by("-pk").first()
    if campaign is None:
        return []
    try:
        confirmation = roll_open(actor=school_user, campaign_id=campaign.pk)
        absent = list(
            RollMark.objects.filter(campaign=campaign, school_id=confirmation.school_id)
            .order_by("student_id")
            .values_list("student_id", flat=True)[5:7]
        )
        if not absent:
            return []
        roll_mark(
            actor=school_user,
            campaign_id=campaign.pk,
            student_ids=absent,
            mark=Mark.ABSENT,
            note="随父母外出务工，本学期未到校",  # stored data
        )
    except DomainError:
        return []
    return [f"学期核准：演示学校标记 {len(absent)} 名学生“缺”"]


@lru_cache(maxsize=1)
def _homophones() -> dict[str, str]:
    """Given-name characters of the demo → another one read alike (涵/寒, 轩/宣)."""
    return {char: alike[0] for char, alike in homophones(GIVEN).items()}


def _homophone(name: str) -> str:
    """``name`` with its last given-name character that has a homophone replaced (a clerk
    typing from hearing)."""
    alike = _homophones()
    for index in range(len(name) - 1, 0, -1):
        if name[index] in alike:
            return name[:index] + alike[name[index]] + name[index + 1 :]
    return name


def _duplicates(school_user: User) -> list[str]:
    """Children registered again at the demo school without their ID (a temporary L
    number), half under the same name, half with a homophone character and the same
    guardian: two from the demo school itself (the school's queue), two from other schools
    of its city (the lowest unit over both records: the city's queue, in the county's and
    province's view of their subtree). The detectors then find the pairs."""
    assert school_user.unit is not None and school_user.unit.school is not None
    school = school_user.unit.school
    enrolled = (
        StatusRecord.objects.filter(state=StatusState.ENROLLED)
        .select_related("student", "school")
        .order_by("pk")
    )
    own = list(enrolled.filter(school=school)[:200])
    nearby = [
        record
        for record in enrolled.filter(area_code__startswith=school.area_code[:4]).exclude(
            school=school
        )[:2000]
        if grade_allowed(school.school_type, record.grade)
    ]
    # From each group: one under the same name, one under a homophone.
    picked: list[tuple[StatusRecord, str]] = []
    for group in (own, nearby):
        alike = [r for r in group[1:] if _homophone(r.student.name) != r.student.name][:1]
        picked += [(r, r.student.name) for r in group[:1]]
        picked += [(r, _homophone(r.student.name)) for r in alike]
    done = []
    for record, name in picked:
        student: Student = record.student
        guardian = student.guardians.exclude(id_key=None).order_by("pk").first()
        # The first record's data, at the demo school, under ``name``, without the ID.
        data = registration_view(student, record) | {
            "school_code": school.code,
            "name": name,
            "name_pinyin": "",
            "id_type": "",
            "id_number": "",
            "id_valid_until": "",
            "class_name": "1班",
            "entry_date": clock.today().strftime("%Y-%m"),
            "left_behind": "否",
        }
        if guardian is not None:
            data |= {
                "guardian_name": guardian.name,
                "guardian_relation": guardian.relation,
                "guardian_id_type": guardian.id_type,
                "guardian_id_number": identity.read_id(guardian),
                "guardian_phone": guardian.phone,
            }
        try:
            again = student_register(actor=school_user, data=data, confirm_distinct=True).student
        except DomainError:
            continue  # the school's grades or the rules refuse this one: skip it
        done.append(f"重复注册：{student.number_masked} → {again.number_masked}")
    return done


def _detect() -> list[str]:
    """Every detector once, then the Splink linkage on DuckDB, as the nightly job would:
    the duplicate findings carry the linkage's probability and reasons too."""
    runs = detect_all()
    linked = linkage_run(backend="duckdb")
    if linked is not None:
        runs.append(linked)
    created = sum(run.created for run in runs)
    return [f"异常检测：新发现 {created} 条"] if created else []
