"""The campaign pages: list, opening form, progress with its chart data, the roll with its
htmx marking, "all present", sign-off; scope; constant queries on the roll page."""

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from xueji import clock
from xueji.verification import services
from xueji.verification.models import Campaign, RollMark, SchoolConfirmation
from xueji.verification.rules import ConfirmationState, Mark

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def roll_url(campaign, school) -> str:
    return f"/verification/{campaign.pk}/schools/{school.pk}/"


# ----------------------------------------------------------------- list and opening


def test_a_province_reviewer_opens_a_campaign_from_the_form(schools, province_user):
    client = client_for(province_user)
    form = client.get("/verification/new/")
    assert form.status_code == 200
    # the province opens for itself only: no scope choice, its code in a hidden field
    assert 'type="hidden" name="province_code" value="44"' in form.content.decode()
    response = client.post(
        "/verification/new/",
        {"province_code": "44", "school_year": "2026", "semester": "1", "deadline": "2026-12-31"},
    )
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/verification/{campaign.pk}/"
    assert campaign.province_code == "44" and campaign.schools_total == 4
    listing = client.get("/verification/").content.decode()
    assert campaign.title in listing and "发起核准活动" in listing


def test_the_form_shows_refusals_on_the_page(schools, province_user, open_campaign):
    open_campaign("44")
    response = client_for(province_user).post(
        "/verification/new/",
        {"province_code": "44", "school_year": "2026", "semester": "1", "deadline": "2026-12-31"},
    )
    assert response.status_code == 200
    assert "范围重叠" in response.content.decode()
    past = client_for(province_user).post(
        "/verification/new/",
        {"province_code": "44", "school_year": "2026", "semester": "2", "deadline": "2020-01-01"},
    )
    assert "截止日期不能早于今天" in past.content.decode()


def test_county_reviewers_and_clerks_cannot_open(schools, county_user, school_user):
    assert client_for(county_user).get("/verification/new/").status_code == 403
    assert client_for(school_user).get("/verification/new/").status_code == 403


def test_the_clerk_sees_the_schools_part_in_the_list(schools, open_campaign, school_user):
    campaign = open_campaign("44")
    page = client_for(school_user).get("/verification/").content.decode()
    assert roll_url(campaign, schools.tianhe) in page
    assert "进入核准" in page


# ----------------------------------------------------------------- the roll


def test_the_roll_page_opens_the_roll_and_marks_with_htmx(
    schools, enrol, open_campaign, school_user
):
    a, _b = enrol(schools.tianhe, 2)
    campaign = open_campaign("44")
    client = client_for(school_user)
    first = client.get(roll_url(campaign, schools.tianhe)).content.decode()
    assert "开始核准" in first
    opened = client.post(f"/verification/{campaign.pk}/roll/open/")
    assert opened.status_code == 302
    page = client.get(roll_url(campaign, schools.tianhe)).content.decode()
    assert f'id="roll-{a.pk}"' in page and "全部在校（除已标记外）" in page
    assert 'id="sign-off" disabled' in page
    # when the clerk taps 缺 on a's row (htmx)
    response = client.post(
        f"/verification/{campaign.pk}/roll/mark/",
        {"student_id": a.pk, "mark": "absent"},
        HTTP_HX_REQUEST="true",
    )
    # then the row comes back marked, with the counts and sign-off panel out of band
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="roll-{a.pk}"' in body and 'data-mark="absent"' in body
    assert 'id="roll-counts" class="xj-roll-counts mb-3" hx-swap-oob="true"' in body
    assert re.search(r'data-count="absent">1<', body)
    assert 'id="roll-sign-off"' in body
    assert RollMark.objects.get(campaign=campaign, student=a).mark == Mark.ABSENT


def test_a_data_wrong_row_links_to_the_change_and_correction_pages(
    schools, enrol, open_campaign, school_user
):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign("44")
    client = client_for(school_user)
    body = client.post(
        f"/verification/{campaign.pk}/roll/mark/",
        {"student_id": student.pk, "mark": "data_wrong"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert f'href="/changes/new/?student={student.pk}"' in body
    assert f'href="/students/{student.pk}/correct/"' in body
    assert "待说明或处理" in body
    explained = client.post(
        f"/verification/{campaign.pk}/roll/mark/",
        {"student_id": student.pk, "mark": "data_wrong", "note": "姓名用字有误"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "已说明或已处理" in explained and 'value="姓名用字有误"' in explained


def test_without_javascript_marking_redirects_back_to_the_roll(
    schools, enrol, open_campaign, school_user
):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign("44")
    here = roll_url(campaign, schools.tianhe) + "?grade=13"
    response = client_for(school_user).post(
        f"/verification/{campaign.pk}/roll/mark/",
        {"student_id": student.pk, "mark": "present", "next": here},
    )
    assert response.status_code == 302 and response["Location"] == here


def test_a_refused_htmx_mark_stays_in_its_row(schools, enrol, open_campaign, school_user):
    student = enrol(schools.tianhe, 1)[0]
    campaign = open_campaign("44")
    client = client_for(school_user)
    client.post(f"/verification/{campaign.pk}/roll/all-present/")
    client.post(f"/verification/{campaign.pk}/roll/sign-off/")
    response = client.post(
        f"/verification/{campaign.pk}/roll/mark/",
        {"student_id": student.pk, "mark": "absent"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    assert "本校已签报" in response.content.decode()
    assert f'id="roll-{student.pk}"' in response.content.decode()


def test_all_present_then_sign_off(schools, enrol, open_campaign, school_user):
    students = enrol(schools.tianhe, 3)
    campaign = open_campaign("44")
    client = client_for(school_user)
    client.post(
        f"/verification/{campaign.pk}/roll/mark/", {"student_id": students[0].pk, "mark": "absent"}
    )
    response = client.post(f"/verification/{campaign.pk}/roll/all-present/")
    assert response.status_code == 302
    confirmation = SchoolConfirmation.objects.get(campaign=campaign, school=schools.tianhe)
    assert (confirmation.present, confirmation.absent, confirmation.unmarked) == (2, 1, 0)
    signed = client.post(
        f"/verification/{campaign.pk}/roll/sign-off/", {"note": "核准完毕"}, follow=True
    )
    assert "本校已签报" in signed.content.decode()
    confirmation.refresh_from_db()
    assert confirmation.state == ConfirmationState.SIGNED_OFF and confirmation.note == "核准完毕"


def test_a_refused_sign_off_goes_to_the_unmarked_students(
    schools, enrol, open_campaign, school_user
):
    enrol(schools.tianhe, 2)
    campaign = open_campaign("44")
    response = client_for(school_user).post(f"/verification/{campaign.pk}/roll/sign-off/")
    assert response.status_code == 302
    assert response["Location"] == roll_url(campaign, schools.tianhe) + "?mark=unmarked"


def test_the_county_reads_the_roll_without_toggles(
    schools, enrol, open_campaign, school_user, county_user
):
    enrol(schools.tianhe, 1)
    campaign = open_campaign("44")
    services.roll_open(actor=school_user, campaign_id=campaign.pk)
    page = client_for(county_user).get(roll_url(campaign, schools.tianhe))
    assert page.status_code == 200
    assert "data-mark-button" not in page.content.decode()
    assert 'data-mark="unmarked"' in page.content.decode()


def test_the_roll_of_another_school_is_not_found(
    schools, enrol, open_campaign, school_user, other_school_user
):
    campaign = open_campaign("")
    assert client_for(other_school_user).get(roll_url(campaign, schools.tianhe)).status_code == 404
    assert client_for(school_user).get(roll_url(campaign, schools.jinjiang)).status_code == 404


def test_the_roll_page_takes_the_same_queries_for_more_students(
    schools, enrol, open_campaign, school_user
):
    few_students = enrol(schools.tianhe, 2)
    campaign = open_campaign("44")
    services.roll_mark(
        actor=school_user,
        campaign_id=campaign.pk,
        student_ids=[few_students[0].pk],
        mark="data_wrong",
    )
    client = client_for(school_user)
    url = roll_url(campaign, schools.tianhe)
    client.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    few = queries()
    more = enrol(schools.tianhe, 6, class_name="3班")
    services.roll_open(actor=school_user, campaign_id=campaign.pk)
    services.roll_mark(
        actor=school_user, campaign_id=campaign.pk, student_ids=[more[0].pk], mark="data_wrong"
    )
    assert RollMark.objects.filter(campaign=campaign).count() == 8
    assert queries() == few


# ----------------------------------------------------------------- progress


def test_the_progress_page_has_the_table_and_the_chart_data(
    schools, enrol, open_campaign, school_user, province_user
):
    enrol(schools.tianhe, 2)
    campaign = open_campaign("44")
    client = client_for(school_user)
    client.post(f"/verification/{campaign.pk}/roll/all-present/")
    client.post(f"/verification/{campaign.pk}/roll/sign-off/")
    page = client_for(province_user).get(f"/verification/{campaign.pk}/").content.decode()
    data = json.loads(
        re.search(
            r'<script id="progress-chart-data" type="application/json">(.*?)</script>', page
        ).group(1)
    )
    assert data["labels"] == ["广州市", "深圳市"]
    assert data["percent"] == [100, 0]  # 广州: the only students are 天河's, all marked
    assert data["overdue"] == [False, False]
    assert f'href="/verification/{campaign.pk}/?area=4401"' in page
    assert "vendor/echarts/echarts.min.js" in page and "verification/progress-chart.js" in page
    # drill down to 天河's schools
    county = (
        client_for(province_user).get(f"/verification/{campaign.pk}/?area=440106").content.decode()
    )
    assert roll_url(campaign, schools.tianhe) in county and "已签报" in county


def test_progress_out_of_scope_is_not_found(schools, open_campaign, county_user, other_school_user):
    campaign = open_campaign("44")
    assert client_for(county_user).get(f"/verification/{campaign.pk}/?area=4401").status_code == 404
    assert client_for(other_school_user).get(f"/verification/{campaign.pk}/").status_code == 404


def test_the_province_closes_its_campaign(schools, open_campaign, province_user, county_user):
    campaign = open_campaign("44")
    assert client_for(county_user).post(f"/verification/{campaign.pk}/close/").status_code == 403
    response = client_for(province_user).post(f"/verification/{campaign.pk}/close/")
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.state == "closed"


def test_the_opening_form_offers_its_default_deadline_to_the_date_input(schools, province_user):
    page = client_for(province_user).get("/verification/new/").content.decode()
    # a date input shows only an ISO date; the locale's "2026/12/27" would leave it empty
    field = re.search(r'<input type="date" name="deadline" value="([^"]*)"', page)
    assert field is not None and re.fullmatch(r"\d{4}-\d{2}-\d{2}", field.group(1))


def test_the_roll_finds_students_by_name_or_number(schools, enrol, open_campaign, school_user):
    found, *others = enrol(schools.tianhe, 3)
    campaign = open_campaign("44")
    services.roll_open(actor=school_user, campaign_id=campaign.pk)
    client = client_for(school_user)
    url = roll_url(campaign, schools.tianhe)
    # the name, the whole number (lower case: through the blind index), its last 4 (part of
    # the number as lists show it)
    for text in (found.name, found.number.lower(), found.number[-4:]):
        page = client.post(url, {"q": text}, follow=True).content.decode()
        assert f'id="roll-{found.pk}"' in page
        assert not any(f'id="roll-{s.pk}"' in page for s in others if s.name != found.name)
        assert "清除筛选" in page


def test_all_present_with_a_mark_filter_asks_about_the_whole_school(
    schools, enrol, open_campaign, school_user
):
    enrol(schools.tianhe, 2)
    campaign = open_campaign("44")
    services.roll_open(actor=school_user, campaign_id=campaign.pk)
    url = roll_url(campaign, schools.tianhe)
    client = client_for(school_user)
    # a mark filter or a search narrows the list, not "all present": the whole school
    for query in ({"mark": "unmarked"}, {"q": "张"}):
        assert "将全校所有未标记的学生" in client.get(url, query).content.decode()
    by_class = client.get(url, {"class_name": "2班"}).content.decode()
    assert "将所选年级或班级中所有未标记的学生" in by_class


def test_after_the_deadline_the_city_sees_which_schools_are_overdue(
    schools, enrol, open_campaign, school_user, city_user
):
    enrol(schools.tianhe, 1)
    campaign = open_campaign("44")
    client_for(school_user).post(f"/verification/{campaign.pk}/roll/all-present/")
    client_for(school_user).post(f"/verification/{campaign.pk}/roll/sign-off/")
    url = f"/verification/{campaign.pk}/"
    assert 'id="overdue-schools"' not in client_for(city_user).get(url).content.decode()
    Campaign.objects.filter(pk=campaign.pk).update(deadline=clock.today() - timedelta(days=1))
    page = client_for(city_user).get(url).content.decode()
    assert 'id="overdue-schools"' in page
    # 天河's second school and 越秀's school are late; 天河 1 signed off; 深圳 is not the city's
    listed = re.findall(r'data-overdue-school="(\d+)"', page)
    assert sorted(listed) == sorted([str(schools.tianhe2.pk), str(schools.yuexiu.pk)])
    assert roll_url(campaign, schools.tianhe2) in page


def test_the_progress_headings_follow_the_language(schools, open_campaign, county_user):
    campaign = open_campaign("44")
    client = client_for(county_user)
    client.cookies["django_language"] = "en"
    # the middleware leaves English active in this thread: put the language back after
    with translation.override(translation.get_language()):
        page = client.get(f"/verification/{campaign.pk}/").content.decode()
    # the level's name was translated once, at import: "By 学校" on an English page
    heading = re.search(r'<h2 id="table-title">([^<]*)</h2>', page).group(1)
    assert heading.startswith("By ") and not re.search(r"[\u4e00-\u9fff]", heading)


# ----------------------------------------------------------------- late registrations


def test_students_registered_after_the_roll_was_opened_are_on_it_unmarked(
    schools, enrol, open_campaign, school_user, county_user
):
    """The roll, its counts and the sign-off button agree: students registered after the
    clerk opened the roll are listed unmarked and sign-off is not offered (issue 11 #2)."""
    early = enrol(schools.tianhe, 2)
    campaign = open_campaign("44")
    client = client_for(school_user)
    client.post(f"/verification/{campaign.pk}/roll/all-present/")
    late = enrol(schools.tianhe, 3)
    page = client.get(roll_url(campaign, schools.tianhe)).content.decode()
    for student in [*early, *late]:
        assert f'id="roll-{student.pk}"' in page
    assert re.search(r'data-count="unmarked">3<', page)
    assert re.search(r'data-count="total">5<', page)
    assert re.search(r'id="sign-off"[^>]*disabled', page)
    unmarked = client.get(roll_url(campaign, schools.tianhe) + "?mark=unmarked").content.decode()
    assert sorted(int(n) for n in re.findall(r'id="roll-(\d+)"', unmarked)) == sorted(
        s.pk for s in late
    )
    # The county reads the same roll.
    county = client_for(county_user).get(roll_url(campaign, schools.tianhe)).content.decode()
    assert re.search(r'data-count="unmarked">3<', county)


def test_before_the_roll_is_opened_its_count_includes_late_registrations(
    schools, enrol, open_campaign, school_user
):
    campaign = open_campaign("44")  # no students yet: 0 on the roll
    enrol(schools.tianhe, 2)
    page = client_for(school_user).get(roll_url(campaign, schools.tianhe)).content.decode()
    assert re.search(r'data-count="unmarked">2<', page)
    assert re.search(r'id="sign-off"[^>]*disabled', page)


def test_the_api_roll_lists_late_registrations(schools, enrol, open_campaign, school_user):
    enrol(schools.tianhe, 1)
    campaign = open_campaign("44")
    services.roll_mark_all_present_except(actor=school_user, campaign_id=campaign.pk)
    late = enrol(schools.tianhe, 1)[0]
    client = client_for(school_user)
    body = client.get(f"/api/campaigns/{campaign.pk}/schools/{schools.tianhe.pk}/roll").json()
    assert body["confirmation"]["unmarked"] == 1
    assert [i["mark"] for i in body["items"] if i["student_id"] == late.pk] == ["unmarked"]


def test_a_signed_off_roll_is_not_changed_by_later_registrations(
    schools, enrol, open_campaign, school_user
):
    enrol(schools.tianhe, 1)
    campaign = open_campaign("44")
    services.roll_mark_all_present_except(actor=school_user, campaign_id=campaign.pk)
    services.school_sign_off(actor=school_user, campaign_id=campaign.pk)
    enrol(schools.tianhe, 1)
    page = client_for(school_user).get(roll_url(campaign, schools.tianhe)).content.decode()
    assert re.search(r'data-count="total">1<', page)
    assert RollMark.objects.filter(campaign=campaign).count() == 1
