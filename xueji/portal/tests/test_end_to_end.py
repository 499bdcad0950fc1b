"""A complete cross-province transfer that starts on the guardian's phone: the guardian of a
student in 广州市天河区 (440106) applies through the portal pages for a school in 成都市锦江区
(510104); the four parties approve through the engine's services; the guardian's status page
then reads 已办结 and the record has moved (籍随人走)."""

import pytest
from django.test import Client

from xueji.accounts.services import unit_ensure_for_school
from xueji.changes import services as engine
from xueji.changes.models import ApprovalStep, ChangeRequest
from xueji.changes.rules import Channel, Party, RequestState, StepState
from xueji.changes.services import authority_unit_for
from xueji.enrolment.models import StatusRecord

from .conftest import handler_of, pdf, sign_in

pytestmark = pytest.mark.django_db


def test_cross_province_transfer_from_the_guardian_page_to_completion(
    family, school, other_school, held
):
    # given a guardian signed in with the code from the outbox
    client = Client()
    sign_in(client, family)

    # when the guardian applies through the pages (the cascade as the browser asks for it)
    fragment = client.get(
        "/portal/apply/destination/?province=510000&city=510100&county=510104",
        headers={"HX-Request": "true", "HX-Trigger": "id_county"},
    ).content.decode()
    assert f'value="{other_school.pk}"' in fragment
    response = client.post(
        "/portal/apply/",
        {
            "province": "510000",
            "city": "510100",
            "county": "510104",
            "school": str(other_school.pk),
            "reason": "随父母工作调动迁居成都",
            "material_application": pdf(),
        },
    )
    assert response.status_code == 302
    change = ChangeRequest.objects.get()
    assert response["Location"] == f"/portal/requests/{change.pk}/"
    assert change.channel == Channel.GUARDIAN

    # then the four parties handle their steps, each within its own unit
    expected_units = [
        unit_ensure_for_school(other_school),
        authority_unit_for(other_school),
        unit_ensure_for_school(school),
        authority_unit_for(school),
    ]
    for index, unit in enumerate(expected_units, start=1):
        page = client.get(f"/portal/requests/{change.pk}/").content.decode()
        assert "办理中" in page
        step = ApprovalStep.objects.get(request=change, state=StepState.PENDING)
        assert step.seq == index and step.unit_id == unit.pk
        assert unit.name in page
        held.advance(hours=2)  # each party takes its time; the guardian signs in anew
        client = Client()
        sign_in(client, family)
        engine.step_handle(actor=handler_of(step), step_id=step.pk, approve=True, comment="同意")

    # and the guardian's status page shows the completed transfer
    change.refresh_from_db()
    assert change.state == RequestState.COMPLETED
    page = client.get(f"/portal/requests/{change.pk}/").content.decode()
    assert "已办结" in page
    assert page.count("同意</span>") == 4
    assert 'aria-current="step"' not in page
    assert "撤回申请</button>" not in page
    record = StatusRecord.objects.get(pk=family.student.pk)
    assert record.school_id == other_school.pk
    assert [s.party for s in ApprovalStep.objects.filter(request=change).order_by("seq")] == [
        Party.RECEIVING_SCHOOL,
        Party.RECEIVING_AUTHORITY,
        Party.SENDING_SCHOOL,
        Party.SENDING_AUTHORITY,
    ]
    home = client.get("/portal/home/").content.decode()
    assert "锦江区实验小学" in home and "已办结" in home
