"""How the credential's claims read on a page: a Chinese label per claim path, and code
values (stage, grade, status) by their names."""

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from xueji.enrolment.rules import StatusState
from xueji.schools.rules import GRADES, Stage

LABELS: dict[str, Promise] = {
    "student_number": _("学籍号"),
    "name": _("姓名"),
    "school.code": _("学校标识码"),
    "school.name": _("学校"),
    "stage": _("学段"),
    "grade": _("年级"),
    "enrolment_status": _("学籍状态"),
    "issue_date": _("签发日期"),
}


def claim_label(path: str) -> str:
    label = LABELS.get(path)
    return str(label) if label is not None else path


def claim_value(path: str, value: object) -> str:
    text = str(value)
    if path == "grade" and text in GRADES:
        return str(GRADES[text].name)
    if path == "stage" and text in Stage.values:
        return str(Stage(text).label)
    if path == "enrolment_status" and text in StatusState.values:
        return str(StatusState(text).label)
    return text
