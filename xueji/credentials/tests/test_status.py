"""The registry drives each credential's status: every change type that ends, suspends or
changes what a credential states, through the change engine and the graduation batch, seen
by a verifier through the signed Token Status List."""

import zlib
from datetime import date

import pytest

from tests.factories import SchoolFactory, make_user
from xueji.accounts.models import Role, UnitKind
from xueji.audit.models import AuditEvent
from xueji.changes import services as changes
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import ChangeType, RequestState, StepState
from xueji.changes.tests.transfers import complete_transfer, file_transfer, hold_clock
from xueji.credentials import rules, services
from xueji.credentials.models import Credential, CredentialState, StatusList
from xueji.enrolment import batches
from xueji.enrolment.rules import StatusState
from xueji.schools.rules import SchoolType

from .conftest import ISSUER

pytestmark = pytest.mark.django_db
TODAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def held(monkeypatch):
    return hold_clock(monkeypatch, TODAY)


def handler(unit):
    role = Role.CLERK if unit.kind == UnitKind.SCHOOL else Role.REVIEWER
    return make_user(unit, roles=(role,))


def complete(request: ChangeRequest) -> None:
    for _i in range(10):
        step = ApprovalStep.objects.filter(request=request, state=StepState.PENDING).first()
        if step is None:
            break
        changes.step_handle(actor=handler(step.unit), step_id=step.pk, approve=True)
    request.refresh_from_db()
    assert request.state == RequestState.COMPLETED


def change(actor, student, change_type, *, materials=(), payload=None) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    uploads = [
        (kind, SimpleUploadedFile(f"{kind}.pdf", b"%PDF-1.4\n", "application/pdf"))
        for kind in materials
    ]
    request = changes.change_file(
        actor=actor,
        student_id=student.pk,
        change_type=change_type,
        uploads=uploads,
        effective_date=TODAY,
        reason="测试事由",
        payload=payload or {},
    )
    complete(request)


def verdict(text: str):
    return services.local_verifier().verify(text)


def status_in_list(credential: Credential) -> int:
    token = services.status_list_token(credential.status_list.number)
    header, payload, _i, _s = rules.jwt_unverified(token)
    assert header["typ"] == "statuslist+jwt"
    assert payload["sub"] == f"{ISSUER}/credentials/status/{credential.status_list.number}"
    raw = zlib.decompress(rules.b64url_decode(payload["status_list"]["lst"]))
    assert payload["status_list"]["bits"] == 2
    return rules.status_at(raw, credential.status_index)


def test_the_status_list_is_a_signed_compressed_bit_list_served_with_a_cache_time(enrolled, client):
    issued = services.credential_issue(actor=None, student_id=enrolled.pk)
    credential = issued.credential
    response = client.get(f"/credentials/status/{credential.status_list.number}")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/statuslist+jwt"
    assert response["Cache-Control"] == "public, max-age=300"
    _h, payload, _i, _s = rules.jwt_unverified(response.content.decode())
    assert payload["ttl"] == 300
    assert status_in_list(credential) == rules.TokenStatus.VALID
    assert client.get("/credentials/status/999").status_code == 404


def test_suspension_suspends_and_resumption_reinstates(enrolled, school_user):
    issued = services.credential_issue(actor=None, student_id=enrolled.pk)
    change(school_user, enrolled, ChangeType.SUSPEND, materials=("application", "medical"))
    credential = Credential.objects.get()
    assert (credential.state, credential.state_reason) == (CredentialState.SUSPENDED, "suspend")
    assert status_in_list(credential) == rules.TokenStatus.SUSPENDED
    assert verdict(issued.text).reason == "status.suspended"
    change(school_user, enrolled, ChangeType.RESUME, materials=("application",))
    credential.refresh_from_db()
    assert credential.state == CredentialState.VALID
    assert status_in_list(credential) == rules.TokenStatus.VALID
    assert verdict(issued.text).valid
    actions = list(
        AuditEvent.objects.filter(action__startswith="credential.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["credential.issue", "credential.suspend", "credential.reinstate"]


@pytest.mark.parametrize(
    ("change_type", "materials", "payload", "state"),
    [
        (ChangeType.COMPLETE, (), {}, StatusState.COMPLETED),
        (ChangeType.LEAVE, (), {}, StatusState.LEFT),
        (ChangeType.DEATH, ("death_proof",), {"died_on": "2026-03-01"}, StatusState.CANCELLED),
        (ChangeType.DROPOUT, (), {}, StatusState.DROPPED_OUT),
    ],
)
def test_ending_changes_revoke(
    make_student, issuer_keys, school_user, change_type, materials, payload, state
):
    student = make_student(grade="16")
    issued = services.credential_issue(actor=None, student_id=student.pk)
    change(school_user, student, change_type, materials=materials, payload=payload)
    credential = Credential.objects.get()
    if state == StatusState.DROPPED_OUT:
        # A dropout may come back (复学): suspended, not revoked.
        assert credential.state == CredentialState.SUSPENDED
        assert verdict(issued.text).reason == "status.suspended"
        return
    assert (credential.state, credential.state_reason) == (CredentialState.REVOKED, change_type)
    assert status_in_list(credential) == rules.TokenStatus.INVALID
    assert verdict(issued.text).reason == "status.revoked"


def test_withdrawal_and_expulsion_revoke(make_student, issuer_keys):
    senior = SchoolFactory(
        name="天河区高级中学", school_type=SchoolType.SENIOR, division_code="440106"
    )
    clerk = make_user(senior.unit, username="senior-clerk")
    for change_type, material in (
        (ChangeType.WITHDRAW, "application"),
        (ChangeType.EXPEL, "disciplinary_decision"),
    ):
        student = make_student(school=senior, actor=clerk, grade="32", entry_date="2024-09")
        issued = services.credential_issue(actor=None, student_id=student.pk)
        change(clerk, student, change_type, materials=(material,))
        assert verdict(issued.text).reason == "status.revoked"


def test_a_transfer_reissues_for_the_new_school_and_revokes_the_old(
    make_student, issuer_keys, other_school, other_school_user, school, holder
):
    private, _key = holder
    student = make_student()
    old = services.credential_issue(actor=None, student_id=student.pk, holder_jwk=private)
    complete_transfer(file_transfer(other_school_user, student))
    credentials = list(Credential.objects.order_by("pk"))
    assert [c.state for c in credentials] == [CredentialState.REVOKED, CredentialState.VALID]
    first, second = credentials
    assert first.replaced_by_id == second.pk and first.state_reason == "replaced"
    assert (first.school_id, second.school_id) == (school.pk, other_school.pk)
    # the new one states the new school and is bound to the same holder key
    assert second.facts["school_code"] == other_school.code
    assert second.holder_jwk == first.holder_jwk
    assert verdict(old.text).reason == "status.revoked"
    new_verdict = verdict(second.issued)
    assert new_verdict.valid
    event = AuditEvent.objects.filter(action="credential.issue").latest("pk")
    assert event.detail["reason"] == "reissue:transfer"


def test_a_grade_change_reissues(make_student, issuer_keys, school_user):
    student = make_student(grade="13")
    services.credential_issue(actor=None, student_id=student.pk)
    change(school_user, student, ChangeType.SKIP, materials=("application",))
    live = Credential.objects.get(state=CredentialState.VALID)
    assert live.facts["grade"] == "14"
    assert Credential.objects.filter(state=CredentialState.REVOKED).count() == 1


def test_a_graduation_batch_revokes_set_based(school, school_user, make_student, issuer_keys):
    graduates = [make_student(grade="16") for _i in range(3)]
    younger = make_student(grade="15")
    for student in [*graduates, younger]:
        services.credential_issue(actor=None, student_id=student.pk)
    run = batches.batch_graduation_plan(
        actor=school_user, school=school.code, cutoff=date(2026, 7, 10)
    )
    batches.batch_run_confirm(actor=school_user, run_id=run.pk)
    batches.batch_run_execute(run_id=run.pk)
    states = dict(Credential.objects.values_list("student_id", "state"))
    assert {states[s.pk] for s in graduates} == {CredentialState.REVOKED}
    assert states[younger.pk] == CredentialState.VALID
    assert StatusList.objects.get().dirty
    revoked = Credential.objects.filter(student__in=graduates).order_by("pk")
    assert [status_in_list(c) for c in revoked] == [rules.TokenStatus.INVALID] * 3
    event = AuditEvent.objects.get(action="credential.revoke_batch")
    assert event.detail == {"count": 3, "reason": run.batch_key}
