"""The registry in a real browser (Playwright + Debian chromium): a clerk's day, a county's view."""

import csv
import re
from urllib.parse import urlsplit

import pytest

from tests.factories import PASSWORD, registration, second_factor_code
from xueji.accounts.models import User
from xueji.accounts.twofactor import second_factor_required
from xueji.exchange.columns import STUDENT_COLUMNS
from xueji.students.models import Student

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def sign_in(page, username: str) -> None:
    user = User.objects.get(username=username)
    needs_code = second_factor_required(user)
    if needs_code:
        second_factor_code(user)  # binds the test authenticator before the sign-in
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    if needs_code:
        page.wait_for_url(re.compile(r".*/accounts/second-factor/$"))
        page.fill("#id_code", second_factor_code(user))
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: urlsplit(url).path == "/")
    else:
        page.wait_for_url(re.compile(r".*/$"))


def test_wrong_password_is_refused_in_chinese(page, school_user):
    page.goto("/login/")
    page.fill("#id_username", school_user.username)
    page.fill("#id_password", "wrong-password-123")
    page.click("button[type=submit]")
    assert "不正确" in page.content()


def test_clerk_registers_checks_duplicates_and_finds_the_student(page, school_user, school):
    sign_in(page, school_user.username)
    data = registration(school, name="赵𪚥")
    page.goto("/students/register/")
    for key in (
        "name",
        "birth_date",
        "id_number",
        "class_name",
        "entry_date",
        "guardian_name",
        "guardian_id_number",
        "guardian_phone",
    ):
        page.fill(f"#id_{key}", data[key])
    page.select_option("#id_sex", data["sex"])
    page.select_option("#id_grade", data["grade"])
    page.select_option("#id_ethnicity", data["ethnicity"])
    page.select_option("#id_guardian_relation", data["guardian_relation"])
    if page.locator("#id_school_code").count() and page.locator("select#id_school_code").count():
        page.select_option("#id_school_code", school.code)
    page.click("button:has-text('校验')")
    page.wait_for_selector("#check-result .alert")
    assert "未发现" in page.inner_text("#check-result") or "通过" in page.inner_text(
        "#check-result"
    )
    page.click("button:has-text('提交注册')")
    page.wait_for_url(re.compile(r".*/students/\d+/$"))
    assert "赵𪚥" in page.inner_text("h1")
    student = Student.objects.get(name="赵𪚥")
    assert page.locator(f"text={student.number}").count() >= 1
    # the ID number is masked on the detail page
    assert data["id_number"][6:14] not in page.inner_text("main").replace(student.number, "")

    # a second registration with the same ID is refused with the number of the first
    page.goto("/students/register/")
    for key in ("name", "birth_date", "id_number", "class_name", "entry_date"):
        page.fill(f"#id_{key}", data[key])
    page.select_option("#id_sex", data["sex"])
    page.select_option("#id_grade", data["grade"])
    page.select_option("#id_ethnicity", data["ethnicity"])
    page.click("button:has-text('提交注册')")
    page.wait_for_selector("text=一人只能有一个学籍")
    assert Student.objects.count() == 1

    # the list finds the student by ID number typed with a lower-case x or spaces
    page.goto("/students/?q=" + data["id_number"])
    assert page.locator("table >> text=赵𪚥").count() == 1


def test_clerk_imports_a_csv_and_sees_the_result(page, school_user, school, tmp_path):
    sign_in(page, school_user.username)
    path = tmp_path / "学生.csv"
    rows = [
        registration(school, name="周一"),
        registration(school, name="吴二", sex="1", sex_code="1"),
    ]
    bad = registration(school, name="郑三", birth_date="2017-02-30")
    with path.open("w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([c.header for c in STUDENT_COLUMNS])
        for row in [*rows, bad]:
            writer.writerow([row.get(c.key, "") for c in STUDENT_COLUMNS])
    page.goto("/imports/")
    page.set_input_files("input[type=file]", str(path))
    page.check("input[value=valid_rows]")
    page.click("form:has(input[type=file]) button[type=submit]")
    page.wait_for_selector("text=已完成", timeout=30_000)
    error_row = page.locator("tr", has_text="出生日期不是有效日期")
    assert error_row.count() == 1
    cells = [c.strip() for c in error_row.locator("td, th").all_inner_texts()]
    assert cells[0] == "4" and cells[1] == "出生日期" and cells[2] == "2017-02-30"
    assert Student.objects.filter(name__in=["周一", "吴二"]).count() == 2
    assert not Student.objects.filter(name="郑三").exists()


def test_county_reviewer_sees_its_schools_students_but_cannot_register(
    page, county_user, make_student, other_school
):
    make_student(name="钱多多")
    sign_in(page, county_user.username)
    page.goto("/students/")
    assert page.locator("text=钱多多").count() == 1
    response = page.goto("/students/register/")
    assert response is not None and response.status == 403
    response = page.goto(f"/schools/{other_school.pk}/")
    assert response is not None and response.status == 404


def test_student_list_works_on_a_phone(phone_page, school_user, make_student):
    make_student(name="孙悟空")
    sign_in(phone_page, school_user.username)
    phone_page.goto("/students/")
    assert phone_page.locator("text=孙悟空").first.is_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"page scrolls sideways on a phone ({width}px)"
