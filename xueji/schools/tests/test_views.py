"""School pages: list, detail, create and edit."""

from datetime import date

import pytest
from django.urls import reverse

from tests import factories
from xueji.schools.models import School

pytestmark = pytest.mark.django_db


@pytest.fixture
def reviewer(client, county_user):
    """A county reviewer (may edit schools) signed in."""
    client.force_login(county_user)
    return client


def test_list_shows_schools_in_scope_with_counts(reviewer, school, other_school, make_student):
    make_student(born=date(2016, 1, 1))
    make_student(born=date(2016, 1, 2))
    response = reviewer.get(reverse("schools:list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert school.name in html
    assert other_school.name not in html
    [row] = response.context["rows"]
    assert row["school"].student_count == 2
    assert "天河区" in row["place"]


def test_list_search_and_filters(reviewer, school):
    high = factories.SchoolFactory(name="天河高级中学", school_type="342", division_code="440106")
    by_name = reviewer.get(reverse("schools:list"), {"q": "高级"}).context["rows"]
    assert [r["school"].pk for r in by_name] == [high.pk]
    by_code = reviewer.get(reverse("schools:list"), {"q": school.code}).context["rows"]
    assert [r["school"].pk for r in by_code] == [school.pk]
    by_type = reviewer.get(reverse("schools:list"), {"school_type": "211"}).context["rows"]
    assert [r["school"].pk for r in by_type] == [school.pk]
    by_state = reviewer.get(reverse("schools:list"), {"state": "closed"}).context["rows"]
    assert by_state == []


def test_detail_counts_by_grade(reviewer, school, make_student):
    make_student(grade="13", born=date(2016, 2, 1))
    make_student(grade="14", born=date(2015, 2, 2))
    response = reviewer.get(reverse("schools:detail", args=[school.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert school.code in html
    assert "三年级" in html and "四年级" in html
    assert response.context["totals"]["on_roll"] == 2
    assert f"{reverse('students:list')}?school={school.code}" in html


def test_detail_out_of_scope_is_404(reviewer, client, school_user, school, other_school):
    assert reviewer.get(reverse("schools:detail", args=[other_school.pk])).status_code == 404
    client.force_login(school_user)
    assert client.get(reverse("schools:detail", args=[school.pk])).status_code == 200
    assert client.get(reverse("schools:detail", args=[other_school.pk])).status_code == 404


def test_create_form_offers_counties_in_scope(client, city_user):
    client.force_login(city_user)
    response = client.get(reverse("schools:create"))
    assert response.status_code == 200
    codes = [code for code, _ in response.context["form"].fields["division_code"].choices if code]
    assert "440106" in codes
    assert all(code.startswith("4401") for code in codes)


def test_create_school(reviewer):
    data = {
        "code": "1144010699",
        "name": "天河区新建小学",
        "school_type": "211",
        "operator": "1",
        "division_code": "440106",
        "managing_level": "county",
        "address": "天河路1号",
    }
    response = reviewer.post(reverse("schools:create"), data)
    assert response.status_code == 302
    school = School.objects.get(code="1144010699")
    assert response["Location"] == reverse("schools:detail", args=[school.pk])
    assert school.area_code == "440106"


def test_create_school_shows_errors(reviewer, school):
    bad = {
        "code": "12345",
        "name": "",
        "school_type": "211",
        "operator": "1",
        "division_code": "440106",
    }
    response = reviewer.post(reverse("schools:create"), bad)
    assert response.status_code == 200
    form = response.context["form"]
    assert "学校标识码应为10位数字" in form.errors["code"]
    assert "学校名称不能为空" in form.errors["name"]

    taken = {**bad, "code": school.code, "name": "重复"}
    response = reviewer.post(reverse("schools:create"), taken)
    assert "已存在" in " ".join(response.context["form"].errors["code"])

    outside = {**bad, "code": "1151010499", "name": "外省", "division_code": "510104"}
    response = reviewer.post(reverse("schools:create"), outside)
    assert response.context["form"].errors["division_code"]
    assert not School.objects.filter(code="1151010499").exists()


def test_edit_school(reviewer, school):
    url = reverse("schools:edit", args=[school.pk])
    assert reviewer.get(url).status_code == 200
    response = reviewer.post(
        url,
        {
            "name": "天河区第一实验小学（本部）",
            "operator": "1",
            "managing_level": "county",
            "address": "",
        },
    )
    assert response.status_code == 302
    school.refresh_from_db()
    assert school.name == "天河区第一实验小学（本部）"


def test_edit_out_of_scope_is_404(reviewer, other_school):
    assert reviewer.get(reverse("schools:edit", args=[other_school.pk])).status_code == 404


def test_clerk_cannot_create_or_edit(client, school_user, school):
    client.force_login(school_user)
    assert client.get(reverse("schools:create")).status_code == 403
    assert client.get(reverse("schools:edit", args=[school.pk])).status_code == 403
