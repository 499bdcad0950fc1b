"""The guardian portal's pages are reads of the child's data, audited as such (issue 10,
finding 3): the guardian (no account; the actor name carries the masked number) read the
child on the home page."""

import pytest

from tests.read_audit import read_events, read_ids

pytestmark = pytest.mark.django_db


def test_the_home_page_is_a_read_of_the_child_by_its_guardian(family, guardian_client):
    before = list(read_events())
    response = guardian_client.get("/portal/home/")
    assert response.status_code == 200
    events = list(read_events())[len(before) :]
    assert [int(e.object_id) for e in events] == [family.student.pk]
    [event] = events
    guardian = family.student.guardians.get(is_guardian=True)
    assert event.detail["guardian"] == guardian.pk
    assert event.detail["kind"] == "portal"
    assert event.actor_id is None
    assert event.actor_username.startswith("guardian:")
    assert family.student.number not in event.actor_username
    assert read_ids() == [family.student.pk] * len(list(read_events()))
