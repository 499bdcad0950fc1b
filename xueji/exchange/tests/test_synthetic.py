"""The demo's synthetic registry: pupils of an age in line with their grade."""

import pytest

from xueji.anomalies.rules import FindingKind
from xueji.anomalies.services import detector_run
from xueji.enrolment.models import StatusRecord
from xueji.exchange.synthetic import DemoPlan, generate

pytestmark = pytest.mark.django_db


def test_generated_pupils_are_of_an_age_in_line_with_their_grade():
    # given
    generate(plan=DemoPlan(students=600, schools=12))
    assert StatusRecord.objects.values("grade").distinct().count() >= 6

    # when: the age detector, with its default band, judges every record
    counts = detector_run(kind=FindingKind.AGE_GRADE)

    # then (a grade six pupil once came out 16: the usual age counted twice)
    assert counts.found == 0
