"""Sign-in, sign-out, the home page of each level, and what every page shares."""

import re
from datetime import date

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------- sign-in and sign-out


def test_login_page_renders_in_chinese(client):
    """The sign-in page is public and speaks Chinese."""
    response = client.get(reverse("web:login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "登录学籍管理系统" in html
    assert 'name="username"' in html and "autofocus" in html
    assert "csrfmiddlewaretoken" in html


def test_login_with_wrong_password_says_so_without_detail(client, school_user):
    """A wrong password and an unknown user name give the same message."""
    for username in (school_user.username, "nobody"):
        response = client.post(
            reverse("web:login"), {"username": username, "password": "wrong-password"}
        )
        assert response.status_code == 200
        assert "您的账号或密码不正确" in response.content.decode()


def test_login_then_home_then_logout(client, school_user):
    """A clerk signs in, lands on the home page, and signs out with a POST."""
    response = client.post(
        reverse("web:login"), {"username": school_user.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")
    assert client.get(reverse("web:home")).status_code == 200

    assert client.get(reverse("web:logout")).status_code == 405  # a link cannot sign out
    response = client.post(reverse("web:logout"))
    assert response.status_code == 302
    assert client.get(reverse("web:home")).status_code == 302


def test_pages_need_sign_in(client):
    """Anonymous visitors are sent to the sign-in page."""
    response = client.get(reverse("web:home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_htmx_request_without_session_is_redirected_by_header(client):
    """An htmx fragment does not swap the sign-in page into itself."""
    response = client.get(reverse("web:home"), headers={"HX-Request": "true"})
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("web:login")


# ---------------------------------------------------------------- home pages


def test_school_home_counts_by_grade_and_class(client, school_user, make_student):
    """A school's home page counts its students by grade and class and links onward."""
    make_student(grade="13", class_name="2班", born=date(2016, 1, 1))
    make_student(grade="13", class_name="2班", born=date(2016, 1, 2))
    make_student(grade="14", class_name="1班", born=date(2015, 1, 3))
    client.force_login(school_user)
    response = client.get(reverse("web:home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "三年级" in html and "四年级" in html
    assert "在籍 3 人" in html
    assert reverse("students:register") in html
    assert reverse("imports:new") in html
    assert f"{reverse('students:list')}?grade=13&amp;class_name=2%E7%8F%AD" in html


def test_county_home_lists_its_schools(client, county_user, school, make_student):
    make_student()
    client.force_login(county_user)
    response = client.get(reverse("web:home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert school.name in html
    assert f"?school={school.code}" in html


def test_province_home_counts_by_city(client, province_user, school, other_school, make_student):
    """A province sees its cities with counts, and nothing of another province."""
    make_student()
    client.force_login(province_user)
    response = client.get(reverse("web:home"))
    assert response.status_code == 200
    rows = response.context["area_rows"]
    guangzhou = next(r for r in rows if r["prefix"] == "4401")
    assert guangzhou["schools"] == 1 and guangzhou["on_roll"] == 1 and guangzhou["enrolled"] == 1
    assert response.context["area_totals"]["schools"] == 1
    assert "广州市" in response.content.decode()
    assert other_school.name not in response.content.decode()


def test_national_home_counts_by_province(client, national_user, school, other_school):
    client.force_login(national_user)
    response = client.get(reverse("web:home"))
    assert response.status_code == 200
    rows = {r["prefix"]: r for r in response.context["area_rows"]}
    assert rows["44"]["schools"] == 1 and rows["51"]["schools"] == 1
    assert "99" in rows  # the separately listed schools (Art. 27)
    assert "广东省" in response.content.decode()


def test_home_queries_do_not_grow_with_rows(
    client, province_user, school, make_student, django_assert_max_num_queries
):
    """The area summary is aggregate: the same number of queries for 1 or 5 students."""
    make_student()
    client.force_login(province_user)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        client.get(reverse("web:home"))
    for day in range(1, 5):
        make_student(born=date(2016, 2, day))
    factories.SchoolFactory(division_code="440106")
    with django_assert_max_num_queries(len(first.captured_queries)):
        client.get(reverse("web:home"))


# ---------------------------------------------------------------- shared layout


def test_vendored_assets_are_served_locally():
    """Bootstrap and htmx come from our static files, never a CDN."""
    for path in (
        "vendor/bootstrap-5.3.9/bootstrap.min.css",
        "vendor/bootstrap-5.3.9/bootstrap.bundle.min.js",
        "vendor/htmx-2.0.11/htmx.min.js",
        "xueji/app.css",
        "xueji/app.js",
    ):
        assert finders.find(path), path


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"\sstyle\s*=", re.IGNORECASE)


@pytest.mark.parametrize("name", ["web:home", "students:list", "students:register", "imports:new"])
def test_pages_have_no_inline_script_or_style(client, school_user, make_student, name):
    """Ready for a strict CSP: no inline <script>, event handler or style attribute."""
    make_student()
    client.force_login(school_user)
    html = client.get(reverse(name)).content.decode()
    assert not INLINE_SCRIPT.search(html)
    assert not INLINE_HANDLER.search(html)
    assert not INLINE_STYLE.search(html)
    assert "cdn" not in html.lower()


def test_unknown_page_is_a_chinese_404(client, school_user):
    client.force_login(school_user)
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "未找到" in response.content.decode()
