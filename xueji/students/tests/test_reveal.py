"""Sensitive fields: masked by default everywhere; revealed one at a time, with a reason,
audited (field and reason, never the value); refusals audited too."""

import json
import re
from datetime import date

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import authority_user, registration
from xueji.audit.models import AuditEvent
from xueji.errors import DomainError, Forbidden, NotFound
from xueji.students import identity
from xueji.students.services import RevealCode, student_register, student_reveal

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
ADDRESS = "广东省广州市天河区体育西路103号"
HOUSEHOLD = "广东省广州市越秀区中山五路1号"
PHONE = "13912345678"
GUARDIAN_PHONE = "13800138000"
REASON = "核对转学材料中的身份证件"


@pytest.fixture
def student(school_user, school):
    """A student with an ID, a guardian, a phone and two addresses."""
    data = registration(
        school,
        born=date(2016, 6, 6),
        address=ADDRESS,
        household_address=HOUSEHOLD,
        phone=PHONE,
    )
    return student_register(actor=school_user, data=data).student


@pytest.fixture
def statistician(db):
    return authority_user("440106", roles=("statistician",))


def secrets_of(student) -> list[str]:
    guardian = student.guardians.get()
    return [
        identity.read_id(student),
        identity.read_id(guardian),
        GUARDIAN_PHONE,
        PHONE,
        ADDRESS,
        HOUSEHOLD,
    ]


def visible(text: str, student) -> list[str]:
    """The secrets readable in a page or a JSON body. The G student number carries the ID
    number by design (national numbering rule): it is taken out before looking."""
    text = text.replace(student.number, "")
    return [secret for secret in secrets_of(student) if secret in text]


def reveal_events(action: str = "student.reveal") -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("pk"))


def api(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def post_reveal(client: Client, student, field: str, reason: str = REASON):
    return client.post(
        f"/api/students/{student.pk}/reveal",
        {"field": field, "reason": reason},
        content_type="application/json",
    )


# ---------------------------------------------------------------- masked by default


def test_detail_page_masks_every_sensitive_value(client, school_user, student):
    client.force_login(school_user)
    html = client.get(reverse("students:detail", args=[student.pk])).content.decode()
    assert visible(html, student) == []
    assert identity.masked_id(student) in html
    assert identity.mask_number(GUARDIAN_PHONE) in html
    assert identity.mask_address(ADDRESS) in html and identity.mask_address(HOUSEHOLD) in html


def test_list_page_and_search_mask_ids(client, school_user, student):
    client.force_login(school_user)
    number = identity.read_id(student)
    html = client.get(reverse("students:list")).content.decode()
    assert identity.masked_id(student) in html and visible(html, student) == []
    # Searched by ID: the row shows it masked; only the search box keeps what was typed.
    # (Posted, as the search form does: a number never goes into a URL.)
    html = client.post(reverse("students:list"), {"q": number}, follow=True).content.decode()
    assert identity.masked_id(student) in html
    html = html.replace(student.number, "")
    assert html.count(number) == html.count(f'value="{number}"') == 1


def test_api_list_and_detail_mask_every_sensitive_value(school_user, student):
    client = api(school_user)
    listed = client.get("/api/students").content.decode()
    detail = client.get(f"/api/students/{student.pk}").json()
    assert visible(listed, student) == []
    assert visible(json.dumps(detail, ensure_ascii=False), student) == []
    guardian = student.guardians.get()
    assert detail["guardians"][0]["id"] == guardian.pk
    assert detail["non_basic"]["household_address"] == identity.mask_address(HOUSEHOLD)
    assert detail["non_basic"]["phone"] == identity.mask_number(PHONE)


def test_reading_is_logged_as_a_read_not_as_a_reveal(client, school_user, student):
    """Reading a record (page and API) is audited as a read of that student — every read
    of personal data is (issue 10, finding 3) — and never as a reveal: nothing masked was
    shown in full, no reason was asked."""
    client.force_login(school_user)
    assert client.get(reverse("students:detail", args=[student.pk])).status_code == 200
    assert api(school_user).get(f"/api/students/{student.pk}").status_code == 200
    assert reveal_events() == []
    reads = list(
        AuditEvent.objects.filter(action="student.read")
        .order_by("pk")
        .values_list("object_type", "object_id", "channel", "detail__kind")
    )
    assert reads == [
        ("students.student", str(student.pk), "web", "detail"),
        ("students.student", str(student.pk), "api", "detail"),
    ]


# ---------------------------------------------------------------- the service


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("id_number", lambda s: identity.read_id(s)),
        ("guardian:{g}:id_number", lambda s: identity.read_id(s.guardians.get())),
        ("guardian:{g}:phone", lambda s: GUARDIAN_PHONE),
        ("phone", lambda s: PHONE),
        ("address", lambda s: ADDRESS),
        ("household_address", lambda s: HOUSEHOLD),
    ],
)
def test_reveal_returns_the_value_and_audits_field_and_reason(
    school_user, student, field, expected
):
    field = field.format(g=student.guardians.get().pk)
    value = student_reveal(actor=school_user, student_id=student.pk, field=field, reason=REASON)
    assert value == expected(student)
    (event,) = reveal_events()
    assert (event.actor_id, event.object_type, event.object_id) == (
        school_user.pk,
        "students.student",
        str(student.pk),
    )
    assert event.detail == {"field": field, "reason": REASON}
    assert value not in json.dumps(event.detail, ensure_ascii=False) + event.summary


@pytest.mark.parametrize("reason", ["", "   ", "看看", "abc"])
def test_reveal_without_a_reason_is_refused_and_the_refusal_audited(school_user, student, reason):
    with pytest.raises(DomainError) as refused:
        student_reveal(actor=school_user, student_id=student.pk, field="id_number", reason=reason)
    assert refused.value.code == RevealCode.REASON_REQUIRED == "reveal.reason_required"
    assert refused.value.http_status == 422
    assert "事由" in refused.value.message
    assert reveal_events() == []
    (event,) = reveal_events("student.reveal_refused")
    assert event.detail["code"] == "reveal.reason_required"
    assert event.detail["field"] == "id_number"
    assert identity.read_id(student) not in json.dumps(event.detail) + event.summary


def test_reveal_out_of_scope_is_not_found_and_audited(other_school_user, student):
    with pytest.raises(NotFound):
        student_reveal(
            actor=other_school_user, student_id=student.pk, field="id_number", reason=REASON
        )
    (event,) = reveal_events("student.reveal_refused")
    assert (event.actor_id, event.detail["code"]) == (other_school_user.pk, "not_found")


def test_statistician_never_reveals(statistician, student):
    with pytest.raises(Forbidden):
        student_reveal(actor=statistician, student_id=student.pk, field="id_number", reason=REASON)
    assert reveal_events("student.reveal_refused")[0].detail["code"] == "forbidden"


def test_another_students_guardian_is_not_found(school_user, school, student):
    other = student_register(
        actor=school_user, data=registration(school, born=date(2016, 7, 7))
    ).student
    theirs = other.guardians.get().pk
    with pytest.raises(NotFound):
        student_reveal(
            actor=school_user,
            student_id=student.pk,
            field=f"guardian:{theirs}:phone",
            reason=REASON,
        )


@pytest.mark.parametrize("field", ["left_behind", "name", "guardian:1:name", "学号", ""])
def test_a_field_that_is_not_masked_cannot_be_revealed(school_user, student, field):
    with pytest.raises(DomainError) as refused:
        student_reveal(actor=school_user, student_id=student.pk, field=field, reason=REASON)
    assert refused.value.code == "reveal.unknown_field"
    assert reveal_events("student.reveal_refused")[0].detail["code"] == "reveal.unknown_field"


def test_reviewer_above_reveals_in_scope(county_user, student):
    value = student_reveal(actor=county_user, student_id=student.pk, field="phone", reason=REASON)
    assert value == PHONE


# ---------------------------------------------------------------- the API


def test_api_reveal_returns_the_value(school_user, student):
    response = post_reveal(api(school_user), student, "id_number")
    assert response.status_code == 200
    assert response.json() == {"value": identity.read_id(student)}
    assert "no-store" in response["Cache-Control"]
    assert reveal_events()[0].detail == {"field": "id_number", "reason": REASON}


def test_api_reveal_without_reason_is_422_with_its_code(school_user, student):
    response = post_reveal(api(school_user), student, "id_number", reason="")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "reveal.reason_required"
    assert body["errors"][0]["field"] == "reason"
    assert identity.read_id(student) not in response.content.decode()


def test_api_reveal_out_of_scope_is_404(other_school_user, student):
    response = post_reveal(api(other_school_user), student, "id_number")
    assert response.status_code == 404
    assert visible(response.content.decode(), student) == []


def test_api_reveal_by_statistician_is_403(statistician, student):
    response = post_reveal(api(statistician), student, "id_number")
    assert response.status_code == 403
    assert visible(response.content.decode(), student) == []


def test_api_reveal_needs_credentials(student):
    assert post_reveal(Client(), student, "id_number").status_code == 401


# ---------------------------------------------------------------- the page


def test_detail_page_offers_a_reveal_button_beside_each_masked_value(client, school_user, student):
    client.force_login(school_user)
    html = client.get(reverse("students:detail", args=[student.pk])).content.decode()
    url = reverse("students:reveal", args=[student.pk])
    guardian = student.guardians.get()
    for field in (
        "id_number",
        f"guardian%3A{guardian.pk}%3Aid_number",
        f"guardian%3A{guardian.pk}%3Aphone",
        "phone",
        "address",
        "household_address",
    ):
        assert f'hx-get="{url}?field={field}"' in html, field
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html, re.IGNORECASE)
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE)


def test_page_reveal_asks_for_a_reason_first(client, school_user, student):
    client.force_login(school_user)
    url = reverse("students:reveal", args=[student.pk])
    response = client.get(url, {"field": "id_number"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="reason"' in html and 'hx-post="' + url + '"' in html
    assert identity.read_id(student) not in html
    assert reveal_events() == []


def test_page_reveal_replaces_the_masked_text_with_the_value(client, school_user, student):
    client.force_login(school_user)
    url = reverse("students:reveal", args=[student.pk])
    response = client.post(url, {"field": "id_number", "reason": REASON}, headers=HTMX)
    assert response.status_code == 200
    assert identity.read_id(student) in response.content.decode()
    assert response["HX-Retarget"] == "closest .xj-reveal"
    assert response["HX-Reswap"] == "outerHTML"
    assert "no-store" in response["Cache-Control"]
    assert reveal_events()[0].detail == {"field": "id_number", "reason": REASON}


def test_page_reveal_without_reason_shows_the_form_again(client, school_user, student):
    client.force_login(school_user)
    url = reverse("students:reveal", args=[student.pk])
    response = client.post(url, {"field": "id_number", "reason": "看"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 422
    assert "须填写事由" in html and 'name="reason"' in html
    assert identity.read_id(student) not in html
    assert reveal_events("student.reveal_refused")[0].detail["reason"] == "看"


def test_page_reveal_cancel_brings_the_button_back(client, school_user, student):
    client.force_login(school_user)
    url = reverse("students:reveal", args=[student.pk])
    response = client.get(url, {"field": "phone", "cancel": "1"}, headers=HTMX)
    assert f'hx-get="{url}?field=phone"' in response.content.decode()


def test_page_reveal_works_without_htmx(client, school_user, student):
    client.force_login(school_user)
    url = reverse("students:reveal", args=[student.pk])
    form = client.get(url, {"field": "address"})
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    shown = client.post(url, {"field": "address", "reason": REASON})
    assert shown.status_code == 200 and ADDRESS in shown.content.decode()


def test_page_reveal_out_of_scope_is_404(client, other_school_user, student):
    client.force_login(other_school_user)
    url = reverse("students:reveal", args=[student.pk])
    assert client.get(url, {"field": "id_number"}).status_code == 404
    response = client.post(url, {"field": "id_number", "reason": REASON}, headers=HTMX)
    assert response.status_code == 404
    assert visible(response.content.decode(), student) == []


def test_page_reveal_by_statistician_is_403(client, statistician, student):
    client.force_login(statistician)
    url = reverse("students:reveal", args=[student.pk])
    response = client.post(url, {"field": "id_number", "reason": REASON}, headers=HTMX)
    assert response.status_code == 403
    assert client.get(url, {"field": "id_number"}).status_code == 403
