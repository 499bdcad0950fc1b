"""The home page's dashboard at every level: steps waiting and overdue, open campaigns, open
findings and open warnings, for the unit and ALL of its subtree and nothing outside it
(checked against a brute-force walk of the unit tree), each figure linked to a list that
holds exactly that many rows, in a fixed number of queries whatever the tree's size."""

from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.factories import SchoolFactory, authority_user, make_user
from xueji import clock
from xueji.accounts.models import Role, Unit
from xueji.accounts.services import unit_ensure_national
from xueji.anomalies.models import Finding
from xueji.anomalies.rules import FindingKind, FindingState
from xueji.audit.models import EarlyWarning, WarningRole
from xueji.audit.warnings import warning_raise
from xueji.changes.models import ApprovalStep
from xueji.changes.rules import ChangeType, RequestState, StepState
from xueji.changes.tests.transfers import approve_pending, file_transfer, hold_clock
from xueji.schools.rules import ManagingLevel
from xueji.verification.models import SchoolConfirmation
from xueji.verification.rules import ConfirmationState
from xueji.verification.services import campaign_open
from xueji.web.dashboard import dashboard

pytestmark = pytest.mark.django_db

FIRST = date(2026, 3, 10)  # filed first: past due by TODAY
TODAY = date(2026, 4, 10)  # a month on: the first batch is overdue, the second is not


def _suspend(actor, student):
    """The school files a suspension (application and medical proof); it waits at the
    school's status authority."""
    from xueji.changes import services

    return services.change_file(
        actor=actor,
        student_id=student.pk,
        change_type=ChangeType.SUSPEND,
        uploads=[
            (kind, SimpleUploadedFile(f"{kind}.pdf", b"%PDF-1.4\n", "application/pdf"))
            for kind in ("application", "medical")
        ],
        effective_date=clock.today(),
        reason="测试事由",
    )


# ---------------------------------------------------------------- the tree


class Tree:
    """Schools in two provinces, three cities and four counties, a school managed by its
    city, and one account at every level above and at a school."""

    def __init__(self, make_student):
        self.a1 = SchoolFactory(name="天河一小", division_code="440106")
        self.a2 = SchoolFactory(name="越秀一小", division_code="440104")
        self.a3 = SchoolFactory(name="福田一小", division_code="440304")
        # Managed by its city: its authority steps wait at the city (4403), not the county.
        self.a4 = SchoolFactory(
            name="福田市直小学", division_code="440304", managing_level=ManagingLevel.CITY
        )
        self.b1 = SchoolFactory(name="锦江一小", division_code="510104")
        self.schools = [self.a1, self.a2, self.a3, self.a4, self.b1]
        self.clerks = {s.pk: make_user(s.unit, roles=(Role.CLERK,)) for s in self.schools}
        self.students = {
            s.pk: [make_student(school=s, actor=self.clerks[s.pk]) for _ in range(3)]
            for s in self.schools
        }
        self.users = {
            "national": make_user(unit_ensure_national(), roles=(Role.REVIEWER,)),
            "province44": authority_user("440000"),
            "province51": authority_user("510000"),
            "city4401": authority_user("440100"),
            "city4403": authority_user("440300"),
            "county440106": authority_user("440106"),
            "county440104": authority_user("440104"),
            "county440304": authority_user("440304"),
            "county510104": authority_user("510104"),
            "school_a1": self.clerks[self.a1.pk],
            "school_a4": self.clerks[self.a4.pk],
            "school_b1": self.clerks[self.b1.pk],
        }


def subtree(unit: Unit) -> set[int]:
    """Brute force: the unit and every unit whose parent chain reaches it."""
    parents = dict(Unit.objects.values_list("pk", "parent_id"))
    out = set()
    for pk in parents:
        walk: int | None = pk
        while walk is not None:
            if walk == unit.pk:
                out.add(pk)
                break
            walk = parents[walk]
    return out


def expected(user, today: date) -> dict:
    unit = user.unit
    below = subtree(unit)
    steps = list(
        ApprovalStep.objects.filter(
            state=StepState.PENDING, request__state=RequestState.OPEN
        ).values_list("unit_id", "due_date")
    )
    findings = list(Finding.objects.filter(state=FindingState.OPEN).values_list("unit_id"))
    warnings = list(
        EarlyWarning.objects.filter(resolved_at__isnull=True).values_list("unit_id", "role")
    )
    confirmations = list(
        SchoolConfirmation.objects.values_list("school__unit__pk", "state", "total", "unmarked")
    )
    late = [(u, d) for u, d in steps if d is not None and d < today]
    return {
        "steps": {
            "mine": sum(1 for u, _ in steps if u == unit.pk),
            "mine_overdue": sum(1 for u, _ in late if u == unit.pk),
            "area": sum(1 for u, _ in steps if u in below),
            "area_overdue": sum(1 for u, _ in late if u in below),
        },
        "findings": {
            "mine": sum(1 for (u,) in findings if u == unit.pk),
            "below": sum(1 for (u,) in findings if u in below and u != unit.pk),
        },
        "warnings": {
            "mine": sum(1 for u, _ in warnings if u == unit.pk),
            "area": sum(1 for u, r in warnings if u in below and r == WarningRole.PARTY),
        },
        "campaign": {
            "schools": sum(1 for u, *_ in confirmations if u in below),
            "signed_off": sum(
                1 for u, s, *_ in confirmations if u in below and s == ConfirmationState.SIGNED_OFF
            ),
        },
    }


def figures_of(board) -> dict:
    steps = [f.value for f in board.steps]
    findings = [f.value for f in board.findings]
    warnings = [f.value for f in board.warnings]
    return {
        "steps": dict(zip(["mine", "mine_overdue", "area", "area_overdue"], steps, strict=False)),
        "findings": dict(zip(["mine", "below"], findings, strict=False)),
        "warnings": dict(zip(["mine", "area"], warnings, strict=False)),
        "campaign": (
            {"schools": board.campaigns[0].schools, "signed_off": board.campaigns[0].signed_off}
            if board.campaigns
            else {"schools": 0, "signed_off": 0}
        ),
    }


@pytest.fixture
def tree(monkeypatch, make_student):
    """The tree with work at every level: steps (some overdue), findings, warnings and a
    campaign of province 44 with one school signed off."""
    held = hold_clock(monkeypatch, FIRST)
    t = Tree(make_student)
    clerks, students = t.clerks, t.students
    # First batch, overdue by TODAY: a cross-province transfer A1 → B1 (waits at 锦江区),
    # suspensions at A3 (福田区) and A4 (深圳市: managed by the city).
    file_transfer(clerks[t.b1.pk], students[t.a1.pk][0])
    _suspend(clerks[t.a3.pk], students[t.a3.pk][0])
    _suspend(clerks[t.a4.pk], students[t.a4.pk][0])
    # Second batch, not yet due: A2 → A1 moved on to the sending school (越秀一小), and a
    # suspension at A1 waiting at 天河区.
    held.go(TODAY - timedelta(days=2))
    transfer = file_transfer(clerks[t.a1.pk], students[t.a2.pk][0])
    approve_pending(transfer)
    _suspend(clerks[t.a1.pk], students[t.a1.pk][1])
    # Findings routed to units at every level, one per student.
    national = unit_ensure_national()
    routed = [
        (t.a1.unit, students[t.a1.pk][2]),
        (t.a1.unit.parent, students[t.a2.pk][1]),  # 天河区
        (t.a3.unit.parent.parent, students[t.a3.pk][1]),  # 深圳市
        (t.a3.unit.parent.parent.parent, students[t.a3.pk][2]),  # 广东省
        (national, students[t.a4.pk][1]),
        (t.b1.unit, students[t.b1.pk][1]),
    ]
    for unit, student in routed:
        Finding.objects.create(
            kind=FindingKind.AGE_GRADE,
            student=student,
            unit=unit,
            school_year=2025,
            semester=2,
            detected_at=clock.now(),
            last_seen_at=clock.now(),
        )
    # Warnings raised at schools and authorities (each escalates to the unit above).
    for n, unit in enumerate([t.a1.unit, t.a2.unit.parent, t.a4.unit, t.b1.unit, national]):
        warning_raise(
            kind="campaign.overdue",
            unit=unit,
            subject_type="verification.confirmation",
            subject_id=900 + n,
            message=f"测试预警 {n}",
            due_date=FIRST,
        )
    # A campaign of province 44; A1 signs off.
    held.go(TODAY)
    campaign_open(
        actor=make_user(t.users["province44"].unit, roles=(Role.REVIEWER,)),
        province_code="44",
        school_year=2025,
        semester=2,
        deadline=TODAY + timedelta(days=10),
    )
    SchoolConfirmation.objects.filter(school_id=t.a1.pk).update(state=ConfirmationState.SIGNED_OFF)
    # The accounts were seen "just now" on the held clock.
    from xueji.accounts.models import User

    User.objects.update(last_seen_at=clock.now())
    return t


LEVELS = [
    "national",
    "province44",
    "province51",
    "city4401",
    "city4403",
    "county440106",
    "county440104",
    "county440304",
    "county510104",
    "school_a1",
    "school_a4",
    "school_b1",
]


def test_the_tree_has_work_everywhere(tree):
    # Guard: the data below must make the level checks meaningful.
    assert ApprovalStep.objects.filter(state=StepState.PENDING).count() == 5
    pending_units = set(
        ApprovalStep.objects.filter(state=StepState.PENDING).values_list("unit__kind", flat=True)
    )
    assert pending_units == {"school", "county", "city"}
    overdue = ApprovalStep.objects.filter(state=StepState.PENDING, due_date__lt=TODAY)
    assert overdue.count() == 3


@pytest.mark.parametrize("level", LEVELS)
def test_each_level_counts_all_of_its_subtree_and_nothing_outside(tree, level):
    user = tree.users[level]
    board = dashboard(user, today=TODAY)
    want = expected(user, TODAY)
    got = figures_of(board)
    if user.unit.kind == "school":
        # a school: its unit is its subtree; no "area" figures
        assert got["steps"] == {k: want["steps"][k] for k in ("mine", "mine_overdue")}
        assert want["steps"]["area"] == want["steps"]["mine"]
        assert got["findings"] == {"mine": want["findings"]["mine"]}
        assert got["warnings"] == {"mine": want["warnings"]["mine"]}
    else:
        assert got["steps"] == want["steps"]
        assert got["findings"] == want["findings"]
        assert got["warnings"] == want["warnings"]
    if want["campaign"]["schools"]:
        assert got["campaign"] == want["campaign"]
    else:
        assert board.campaigns == []


def test_the_figures_are_not_trivially_zero(tree):
    national = figures_of(dashboard(tree.users["national"], today=TODAY))
    assert national["steps"] == {"mine": 0, "mine_overdue": 0, "area": 5, "area_overdue": 3}
    assert national["findings"] == {"mine": 1, "below": 5}
    # 广东's five open schools (the four above and the fixtures' 天河区第一实验小学)
    assert national["campaign"] == {"schools": 5, "signed_off": 1}
    city = figures_of(dashboard(tree.users["city4403"], today=TODAY))
    assert city["steps"] == {"mine": 1, "mine_overdue": 1, "area": 2, "area_overdue": 2}
    province51 = figures_of(dashboard(tree.users["province51"], today=TODAY))
    assert province51["campaign"] == {"schools": 0, "signed_off": 0}
    assert province51["steps"]["area"] == 1


@pytest.mark.parametrize("level", ["national", "province44", "city4403", "county440106"])
def test_each_figure_links_to_a_list_of_exactly_that_many(tree, level):
    user = tree.users[level]
    board = dashboard(user, today=TODAY)
    client = Client()
    client.force_login(user)
    for figure in [*board.steps, *board.findings, *board.warnings]:
        response = client.get(figure.url)
        assert response.status_code == 200, figure
        page = response.context.get("page_obj")
        if page is not None:
            assert page.paginator.count == figure.value, (figure.label, figure.url)
        else:  # the review queue of one's own unit
            assert len(response.context["cards"]) == figure.value, figure.url
    home = client.get("/").content.decode()
    for figure in [*board.steps, *board.findings, *board.warnings]:
        assert f'href="{figure.url.replace("&", "&amp;")}"' in home
    for item in board.campaigns or []:
        assert f'href="{item.url}"' in home


def test_the_school_dashboard_links_its_roll(tree):
    user = tree.users["school_a1"]
    campaigns = dashboard(user, today=TODAY).campaigns
    assert campaigns is not None
    [item] = campaigns
    assert item.url.endswith(f"/schools/{tree.a1.pk}/")
    assert (item.schools, item.signed_off) == (1, 1)


def test_queries_do_not_grow_with_the_tree(tree, make_student, django_assert_num_queries):
    user = tree.users["national"]
    # Permission checks read the roles once; then one query per subject.
    dashboard(user, today=TODAY)
    with django_assert_num_queries(4):
        dashboard(user, today=TODAY)
    for n in range(6):
        extra = SchoolFactory(name=f"新增学校{n}", division_code="440104")
        Finding.objects.create(
            kind=FindingKind.EMPTY_RECORD,
            student=make_student(school=extra, actor=make_user(extra.unit)),
            unit=extra.unit,
            school_year=2025,
            semester=2,
            detected_at=clock.now(),
            last_seen_at=clock.now(),
        )
    with django_assert_num_queries(4):
        board = dashboard(user, today=TODAY)
    assert figures_of(board)["findings"] == {"mine": 1, "below": 11}


def test_an_account_without_a_permission_does_not_see_its_figures(tree):
    statistician = make_user(tree.users["county440106"].unit, roles=(Role.STATISTICIAN,))
    board = dashboard(statistician, today=TODAY)
    assert board.steps == [] and board.findings == []


def test_the_home_page_shows_the_dashboard_above_the_table(tree):
    client = Client()
    client.force_login(tree.users["national"])
    body = client.get("/").content.decode()
    assert body.index("本单位及辖区待办") < body.index("辖区学校与学生")
    assert "辖区待办环节（含本单位）" in body
    assert 'href="/changes/?step=area_overdue"' in body


def test_divisions_without_schools_are_named_once_not_listed_as_zeros(
    client, national_user, school, other_school
):
    client.force_login(national_user)
    response = client.get("/")
    body = response.content.decode()
    assert "北京市" in response.context["empty_areas"]
    assert "广东省" not in response.context["empty_areas"]
    # no table row for 北京市, one line naming it
    assert '<th scope="row" class="fw-normal">北京市</th>' not in body
    assert '<th scope="row" class="fw-normal">广东省</th>' in body
    assert "暂无学校：" in body and "北京市" in body
