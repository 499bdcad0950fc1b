"""Semester confirmation over the API: list and open campaigns, read the progress roll-up,
read a school's roll (keyset pages), open it, mark students, mark all present except a
few, sign off, close a campaign. Bodies parse, call one selector or service, and shape
the output; domain errors become JSON in config/api.py."""

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status

from xueji import clock
from xueji.audit.reads import ReadKind, note_read
from xueji.i18n import gettext_lazy_str as _

from . import selectors, services
from .models import Campaign, SchoolConfirmation
from .rules import is_overdue
from .schemas import (
    AllPresentIn,
    CampaignIn,
    CampaignOut,
    ConfirmationOut,
    MarkIn,
    ProgressOut,
    RollOut,
    SignOffIn,
)

router = Router(tags=[_("学期核准")])


def campaign_of(campaign: Campaign) -> dict:
    return {
        "id": campaign.pk,
        "province_code": campaign.province_code,
        "scope_name": services.scope_name(campaign.province_code),
        "school_year": campaign.school_year,
        "semester": campaign.semester,
        "title": campaign.title,
        "deadline": campaign.deadline,
        "state": campaign.state,
        "schools_total": campaign.schools_total,
        "opened_at": campaign.opened_at,
        "opened_by": campaign.opened_by_username,
        "closed_at": campaign.closed_at,
    }


def confirmation_of(confirmation: SchoolConfirmation, campaign: Campaign) -> dict:
    return {
        "campaign_id": confirmation.campaign_id,
        "school_id": confirmation.school_id,
        "school_name": confirmation.school.name,
        "state": confirmation.state,
        "total": confirmation.total,
        "present": confirmation.present,
        "absent": confirmation.absent,
        "data_wrong": confirmation.data_wrong,
        "unmarked": confirmation.unmarked,
        "overdue": is_overdue(
            deadline=campaign.deadline, today=clock.today(), signed_off=confirmation.signed_off
        ),
        "roll_opened_at": confirmation.roll_opened_at,
        "signed_off_at": confirmation.signed_off_at,
        "signed_off_by": confirmation.signed_off_by_username,
        "note": confirmation.note,
    }


def _confirmation(confirmation: SchoolConfirmation) -> dict:
    campaign = confirmation.campaign
    return confirmation_of(confirmation, campaign)


@router.get("/campaigns", response=list[CampaignOut], summary=_("可见的核准活动（最新学期在前）"))
def list_campaigns(request: HttpRequest, limit: int = 50):
    rows = selectors.campaign_list(request.auth)[: max(1, min(limit, 200))]  # type: ignore[attr-defined]
    return [campaign_of(c) for c in rows]


@router.post(
    "/campaigns",
    response={201: CampaignOut},
    summary=_("发起核准活动（国家级：全国或一省；省级：本省）"),
)
def open_campaign(request: HttpRequest, payload: CampaignIn):
    campaign = services.campaign_open(
        actor=request.auth,  # type: ignore[attr-defined]
        province_code=payload.province_code,
        school_year=payload.school_year,
        semester=payload.semester,
        deadline=payload.deadline,
        title=payload.title,
    )
    return Status(201, campaign_of(campaign))


@router.post("/campaigns/{int:campaign_id}/close", response=CampaignOut, summary=_("结束核准活动"))
def close_campaign(request: HttpRequest, campaign_id: int):
    campaign = services.campaign_close(actor=request.auth, campaign_id=campaign_id)  # type: ignore[attr-defined]
    return campaign_of(campaign)


class ProgressQuery(Schema):
    area: str | None = None


@router.get(
    "/campaigns/{int:campaign_id}/progress",
    response=ProgressOut,
    summary=_("核准进度：本级以下一级（省→地市→区县→学校）的汇总"),
)
def get_progress(request: HttpRequest, campaign_id: int, query: Query[ProgressQuery]):
    progress = selectors.campaign_progress(request.auth, campaign_id, area=query.area)  # type: ignore[attr-defined]
    return {
        "campaign": campaign_of(progress.campaign),
        "area": progress.area,
        "level": progress.level,
        "rows": [row.as_dict() for row in progress.rows],
        "total": progress.total.as_dict(),
    }


class RollQuery(Schema):
    grade: str = ""
    class_name: str = ""
    mark: str = ""
    after: int | None = None
    limit: int = 200


@router.get(
    "/campaigns/{int:campaign_id}/schools/{int:school_id}/roll",
    response=RollOut,
    summary=_("学校的核准名册（按学生编号的键集分页）"),
)
def get_roll(request: HttpRequest, campaign_id: int, school_id: int, query: Query[RollQuery]):
    services.roll_refresh(actor=request.auth, campaign_id=campaign_id, school_id=school_id)  # type: ignore[attr-defined]
    roll = selectors.school_roll(
        request.auth,  # type: ignore[attr-defined]
        campaign_id,
        school_id,
        grade=query.grade,
        class_name=query.class_name,
        mark=query.mark,
    )
    marks = roll.marks.order_by("student_id")
    if query.after:
        marks = marks.filter(student_id__gt=query.after)
    limit = max(1, min(query.limit, 1000))
    page = list(marks[: limit + 1])
    note_read(
        request.auth,  # type: ignore[attr-defined]
        [m.student_id for m in page[:limit]],
        kind=ReadKind.ROLL,
        campaign=campaign_id,
    )
    items = [
        {
            "student_id": m.student_id,
            "number_masked": m.student.number_masked,
            "name": m.student.name,
            "grade": m.student.record.grade,
            "class_name": m.student.record.class_name,
            "mark": m.mark,
            "note": m.note,
            "marked_at": m.marked_at,
            "marked_by": m.marked_by_username,
        }
        for m in page[:limit]
    ]
    return {
        "confirmation": confirmation_of(roll.confirmation, roll.campaign),
        "items": items,
        "next_cursor": page[limit - 1].student_id if len(page) > limit else None,
    }


@router.post(
    "/campaigns/{int:campaign_id}/roll/open",
    response=ConfirmationOut,
    summary=_("打开（或刷新）本校名册"),
)
def open_roll(request: HttpRequest, campaign_id: int):
    return _confirmation(services.roll_open(actor=request.auth, campaign_id=campaign_id))  # type: ignore[attr-defined]


@router.post(
    "/campaigns/{int:campaign_id}/roll/marks",
    response=ConfirmationOut,
    summary=_("标记本校学生（一名或多名）：present / absent / data_wrong / unmarked"),
)
def mark_students(request: HttpRequest, campaign_id: int, payload: MarkIn):
    confirmation = services.roll_mark(
        actor=request.auth,  # type: ignore[attr-defined]
        campaign_id=campaign_id,
        student_ids=payload.student_ids,
        mark=payload.mark,
        note=payload.note,
    )
    return _confirmation(confirmation)


@router.post(
    "/campaigns/{int:campaign_id}/roll/all-present",
    response=ConfirmationOut,
    summary=_("全部在校（除已标记及所列学生外）"),
)
def mark_all_present(request: HttpRequest, campaign_id: int, payload: AllPresentIn):
    confirmation = services.roll_mark_all_present_except(
        actor=request.auth,  # type: ignore[attr-defined]
        campaign_id=campaign_id,
        except_ids=payload.except_ids,
        grade=payload.grade,
        class_name=payload.class_name,
    )
    return _confirmation(confirmation)


@router.post(
    "/campaigns/{int:campaign_id}/roll/sign-off",
    response=ConfirmationOut,
    summary=_("本校签报（须全部标记，“信息有误”须已处理或说明）"),
)
def sign_off(request: HttpRequest, campaign_id: int, payload: SignOffIn):
    confirmation = services.school_sign_off(
        actor=request.auth,  # type: ignore[attr-defined]
        campaign_id=campaign_id,
        note=payload.note,
    )
    return _confirmation(confirmation)
