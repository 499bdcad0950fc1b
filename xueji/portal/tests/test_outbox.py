"""The embedded sender's outbox page: development only, or masked for the national
security administrators; never the codes in production."""

import pytest
from django.core import checks
from django.test import Client, override_settings

from tests.factories import authority_user, make_user
from xueji.accounts.models import Role
from xueji.accounts.services import unit_ensure_national
from xueji.portal import services

from .conftest import outbox_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def sent(family) -> str:
    services.code_send(
        student_number=family.student.number, guardian_id_number=family.guardian_id_number
    )
    return outbox_code()


def client_of(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_visitors_are_sent_to_the_staff_sign_in(sent):
    response = Client().get("/portal/outbox/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_clerks_reviewers_and_provincial_security_admins_are_refused(sent, school_user):
    for user in (
        school_user,
        authority_user("440000"),
        authority_user("440000", roles=(Role.SECURITY_ADMIN,)),
        make_user(unit_ensure_national(), roles=(Role.REVIEWER,)),
    ):
        response = client_of(user).get("/portal/outbox/")
        assert response.status_code == 403
        assert sent not in response.content.decode()


def test_the_national_security_admin_sees_the_messages_without_codes(sent):
    admin = make_user(unit_ensure_national(), roles=(Role.SECURITY_ADMIN,))
    response = client_of(admin).get("/portal/outbox/")
    assert response.status_code == 200
    text = response.content.decode()
    assert "139****5678" in text and "验证码为 ******" in text
    assert sent not in text


@override_settings(DEBUG=True)
def test_in_debug_anyone_sees_the_codes(sent):
    response = Client().get("/portal/outbox/")
    assert response.status_code == 200
    assert sent in response.content.decode()


def test_deploy_check_warns_about_the_outbox_sender():
    found = [m.id for m in checks.run_checks(include_deployment_checks=True)]
    assert "portal.W001" in found
    with override_settings(XUEJI_PORTAL_SENDER="example.sms.GatewaySender"):
        found = [m.id for m in checks.run_checks(include_deployment_checks=True)]
    assert "portal.W001" not in found
