"""Student pages: list, detail, and registration with the htmx duplicate check."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests import factories
from xueji.enrolment.models import StatusRecord
from xueji.enrolment.rules import StatusState
from xueji.students import identity
from xueji.students.models import Student

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def clerk(client, school_user):
    client.force_login(school_user)
    return client


def form_data(school, **overrides) -> dict:
    """What the registration form posts: every key as a string."""
    data = factories.registration(school, **overrides)
    return {key: "" if value is None else str(value) for key, value in data.items()}


# ---------------------------------------------------------------- list


def test_list_shows_students_in_scope_with_masked_ids(
    clerk, school, other_school, other_school_user, make_student
):
    """A clerk sees the school's students, masked IDs, and nobody from another school."""
    mine = make_student(born=date(2016, 4, 1))
    theirs = make_student(school=other_school, actor=other_school_user, born=date(2016, 4, 2))
    response = clerk.get(reverse("students:list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert mine.name in html
    assert identity.masked_id(mine) in html
    assert theirs.name not in html
    assert "本页 1 条" in html


def test_list_search_and_filters(clerk, make_student):
    first = make_student(born=date(2016, 5, 1), grade="13", class_name="1班")
    second = make_student(born=date(2015, 5, 2), grade="14", class_name="2班")

    by_name = clerk.get(reverse("students:list"), {"q": first.name}).context["rows"]
    assert [r["student"].pk for r in by_name] == [first.pk]

    # Numbers are posted (the form's method) and never travel in the URL.
    url = reverse("students:list")
    by_number = clerk.post(url, {"q": second.number}, follow=True).context["rows"]
    assert [r["student"].pk for r in by_number] == [second.pk]

    by_id = clerk.post(url, {"q": identity.read_id(first)}, follow=True).context["rows"]
    assert [r["student"].pk for r in by_id] == [first.pk]

    by_grade = clerk.get(reverse("students:list"), {"grade": "14"}).context["rows"]
    assert [r["student"].pk for r in by_grade] == [second.pk]

    by_class = clerk.get(reverse("students:list"), {"class_name": "1班"}).context["rows"]
    assert [r["student"].pk for r in by_class] == [first.pk]

    by_state = clerk.get(reverse("students:list"), {"state": "graduated"}).context["rows"]
    assert by_state == []


def test_list_pages_with_the_after_cursor(clerk, settings, make_student):
    """ "下一页" follows the keyset cursor; the page says only how many rows it holds."""
    settings.XUEJI = {**settings.XUEJI, "PAGE_SIZE": 2}
    students = [make_student(born=date(2016, 6, day)) for day in (1, 2, 3)]
    first = clerk.get(reverse("students:list"))
    assert "本页 2 条" in first.content.decode()
    assert "下一页" in first.content.decode()
    cursor = first.context["page"].next_cursor
    assert cursor == students[1].pk

    second = clerk.get(reverse("students:list"), {"after": cursor})
    assert [r["student"].pk for r in second.context["rows"]] == [students[2].pk]
    assert "下一页" not in second.content.decode()
    assert "第一页" in second.content.decode()


def test_list_school_filter_for_authorities(
    client, county_user, school, other_school, make_student
):
    """A county reviewer filters by school; a school outside the county is refused."""
    student = make_student()
    client.force_login(county_user)
    response = client.get(reverse("students:list"), {"school": school.code})
    assert [r["student"].pk for r in response.context["rows"]] == [student.pk]
    refused = client.get(reverse("students:list"), {"school": other_school.code})
    assert refused.status_code == 200
    assert refused.context["form"].errors["school"]


def test_list_query_count_does_not_grow(clerk, make_student):
    """No query per row: masking, grade names and schools come with the page query."""
    make_student(born=date(2016, 7, 1))
    with CaptureQueriesContext(connection) as one:
        clerk.get(reverse("students:list"))
    for day in range(2, 7):
        make_student(born=date(2016, 7, day))
    with CaptureQueriesContext(connection) as six:
        clerk.get(reverse("students:list"))
    assert len(six.captured_queries) == len(one.captured_queries)


def test_list_needs_student_view(client, school):
    """A statistician sees aggregates only, never the list of persons."""
    statistician = factories.make_user(school.unit, roles=("statistician",))
    client.force_login(statistician)
    response = client.get(reverse("students:list"))
    assert response.status_code == 403
    assert "您的角色无权执行此操作" in response.content.decode()


# ---------------------------------------------------------------- detail


def test_detail_shows_groups_history_and_numbers(clerk, make_student):
    student = make_student(born=date(2016, 8, 1))
    guardian = student.guardians.get()
    response = clerk.get(reverse("students:detail", args=[student.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    for heading in (
        "基础信息（身份）",
        "在校信息",
        "监护人与家庭成员",
        "非基础信息",
        "学籍历史",
        "学籍号记录",
    ):
        assert heading in html
    assert identity.masked_id(student) in html
    assert identity.masked_id(guardian) in html
    assert identity.read_id(guardian) not in html
    assert "新生注册" in html  # the registration event
    assert "汉族" in html  # code names, not codes


def test_detail_out_of_scope_is_404(clerk, other_school, other_school_user, make_student):
    theirs = make_student(school=other_school, actor=other_school_user)
    response = clerk.get(reverse("students:detail", args=[theirs.pk]))
    assert response.status_code == 404
    assert "未找到" in response.content.decode()
    assert clerk.get(reverse("students:detail", args=[999_999])).status_code == 404


# ---------------------------------------------------------------- registration


def test_register_form_renders_with_code_tables(clerk, school):
    response = clerk.get(reverse("students:register"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="school_code"' in html and school.code in html
    assert "汉族" in html and "一年级" in html and "高三" in html
    assert reverse("students:check") in html
    for key in ("guardian_name", "left_behind", "disability", "regular_class", "address"):
        assert f'name="{key}"' in html
    # Fixed to the clerk's own school: a single choice, no blank.
    assert len(response.context["form"].fields["school_code"].choices) == 1


def test_register_creates_a_student(clerk, school):
    data = form_data(school, name="王小明", born=date(2017, 1, 9), sex_code="1")
    response = clerk.post(reverse("students:register"), data)
    assert response.status_code == 302
    student = Student.objects.get(name="王小明")
    assert response["Location"] == reverse("students:detail", args=[student.pk])
    assert student.record.school_id == school.pk
    assert student.guardians.count() == 1
    page = clerk.get(response["Location"]).content.decode()
    assert "已注册 王小明" in page


def test_register_shows_errors_next_to_fields(clerk, school):
    data = form_data(school, name="", id_number="440106201703080000", entry_date="")
    response = clerk.post(reverse("students:register"), data)
    assert response.status_code == 200
    form = response.context["form"]
    assert "姓名" in " ".join(form.errors["name"])
    assert form.errors["id_number"]
    assert "入学年月不能为空" in form.errors["entry_date"]
    html = response.content.decode()
    assert "is-invalid" in html and 'aria-invalid="true"' in html
    assert not Student.objects.exists()


def test_register_school_outside_scope_is_a_field_error(clerk, other_school):
    response = clerk.post(reverse("students:register"), form_data(other_school))
    assert response.status_code == 200
    assert response.context["form"].errors["school_code"]
    assert not Student.objects.exists()


def test_register_possible_duplicate_needs_confirmation(clerk, school, make_student):
    """A similar student (same birth date, sex and name, no ID) is shown; the clerk confirms."""
    existing = make_student(name="李华", born=date(2016, 9, 9), sex_code="1")
    data = form_data(
        school, name="李华", born=date(2016, 9, 9), sex_code="1", id_type="", id_number=""
    )
    response = clerk.post(reverse("students:register"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["conflict"]["code"] == "student.possible_duplicate"
    assert "我已核对，确认不是同一人" in html
    assert "姓名相同" in html
    assert existing.number not in html  # candidates' numbers are masked
    assert Student.objects.count() == 1

    confirmed = clerk.post(reverse("students:register"), {**data, "confirm_distinct": "1"})
    assert confirmed.status_code == 302
    assert Student.objects.filter(name="李华").count() == 2


def test_register_same_id_is_refused_with_the_message(clerk, school, make_student):
    existing = make_student(born=date(2016, 10, 1))
    data = form_data(school, born=date(2016, 10, 1), id_number=identity.read_id(existing))
    response = clerk.post(reverse("students:register"), data)
    assert response.status_code == 200
    assert response.context["conflict"]["code"] == "student.duplicate_id"
    assert "一人只能有一个学籍" in response.content.decode()
    assert Student.objects.count() == 1


def test_register_known_student_offers_reactivation(clerk, school, make_student):
    """A student who dropped out and returns gets the old record back (一人一籍)."""
    existing = make_student(born=date(2016, 11, 1))
    StatusRecord.objects.filter(pk=existing.pk).update(state=StatusState.DROPPED_OUT)
    data = form_data(school, born=date(2016, 11, 1), id_number=identity.read_id(existing))
    response = clerk.post(reverse("students:register"), data)
    assert response.context["conflict"]["code"] == "student.known"
    assert "恢复原学籍" in response.content.decode()

    reactivated = clerk.post(reverse("students:register"), {**data, "reactivate": "1"})
    assert reactivated.status_code == 302
    assert reactivated["Location"] == reverse("students:detail", args=[existing.pk])
    existing.record.refresh_from_db()
    assert existing.record.state == StatusState.ENROLLED
    assert Student.objects.count() == 1


def test_register_needs_the_register_permission(client, county_user):
    client.force_login(county_user)  # a reviewer: views, does not register
    assert client.get(reverse("students:register")).status_code == 403
    assert client.post(reverse("students:check"), {}, headers=HTMX).status_code == 403


# ---------------------------------------------------------------- the htmx check


def test_check_returns_candidates_without_saving(clerk, school, make_student):
    make_student(name="张伟", born=date(2016, 12, 1), sex_code="1")
    data = form_data(
        school, name="张玮", born=date(2016, 12, 1), sex_code="1", id_type="", id_number=""
    )
    response = clerk.post(reverse("students:check"), data, headers=HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<form id="registration-form"' in html
    assert "<html" not in html  # a fragment
    assert "疑似重复学籍" in html
    assert "姓名拼音相同（同音字）" in html
    assert Student.objects.count() == 1


def test_check_renders_errors_per_field(clerk, school):
    data = form_data(school, birth_date="2099-01-01", grade="99")
    response = clerk.post(reverse("students:check"), data, headers=HTMX)
    assert response.status_code == 200
    form = response.context["form"]
    assert form.errors["grade"]
    assert "校验未通过" in response.content.decode()
    assert not Student.objects.exists()


def test_check_passes_clean_data(clerk, school):
    response = clerk.post(
        reverse("students:check"), form_data(school, born=date(2017, 2, 2)), headers=HTMX
    )
    assert response.context["check"]["ok"] is True
    assert "校验通过" in response.content.decode()
    assert not Student.objects.exists()


def test_check_is_post_only(clerk):
    assert clerk.get(reverse("students:check")).status_code == 405


def test_register_form_follows_the_provinces_schema(clerk, school, province_user):
    """A province's filed non-basic fields appear on the form; its required ones are checked."""
    from xueji.students.nonbasic import DEFAULT_SCHEMA_FIELDS
    from xueji.students.services import nonbasic_schema_file

    nonbasic_schema_file(
        actor=province_user,
        fields=[
            *DEFAULT_SCHEMA_FIELDS,
            {"key": "dialect", "label": "家庭常用语言", "type": "text", "required": True},
        ],
    )
    page = clerk.get(reverse("students:register")).content.decode()
    assert 'name="dialect"' in page and "家庭常用语言" in page

    missing = clerk.post(reverse("students:register"), form_data(school, born=date(2017, 4, 4)))
    assert missing.context["form"].errors["dialect"]

    done = clerk.post(
        reverse("students:register"), form_data(school, born=date(2017, 4, 4), dialect="粤语")
    )
    assert done.status_code == 302
    assert Student.objects.get().non_basic.data["dialect"] == "粤语"
