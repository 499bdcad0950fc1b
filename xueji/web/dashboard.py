"""The dashboard on the home page of every level (national, province, city, county, school).

What waits for the unit and its whole subtree, each figure linked to the list it counts:
approval steps pending and overdue, the progress of open semester campaigns, open findings
and open warnings. Each figure comes from the selector its list uses (one grouped query
each, whatever the size of the subtree); a figure the account may not read is left out.
"""

from dataclasses import dataclass, field
from datetime import date

from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from xueji import clock
from xueji.accounts.models import UnitKind, User
from xueji.accounts.permissions import has_permission
from xueji.accounts.rules import Permission


@dataclass
class Figure:
    label: str
    value: int
    url: str
    # "danger" for something late, "warning" for something waiting; "" when it is zero.
    tone: str = ""


@dataclass
class CampaignFigure:
    title: str
    url: str
    deadline: date
    schools: int
    signed_off: int
    percent: int
    overdue: int


@dataclass
class Dashboard:
    steps: list[Figure] = field(default_factory=list)
    campaigns: list[CampaignFigure] | None = None  # None: the account does not see campaigns
    findings: list[Figure] = field(default_factory=list)
    warnings: list[Figure] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.steps or self.findings or self.warnings or self.campaigns is not None)


def _url(name: str, **query: str) -> str:
    path = reverse(name)
    return f"{path}?{urlencode(query)}" if query else path


def _tone(value: int, tone: str) -> str:
    return tone if value else ""


def _steps(user: User, *, authority: bool, today: date) -> list[Figure]:
    from xueji.changes.selectors import step_counts

    counts = step_counts(user, today=today)
    queue = (
        reverse("changes:queue")
        if has_permission(user, Permission.CHANGE_HANDLE)
        else _url("changes:list", step="mine")
    )
    figures = [
        Figure(_("本单位待办环节"), counts["mine"], queue, _tone(counts["mine"], "warning")),
        Figure(
            _("其中超过办理期限"),
            counts["mine_overdue"],
            _url("changes:list", step="mine_overdue"),
            _tone(counts["mine_overdue"], "danger"),
        ),
    ]
    if authority:
        figures += [
            Figure(
                _("辖区待办环节（含本单位）"),
                counts["area"],
                _url("changes:list", step="area"),
                _tone(counts["area"], "warning"),
            ),
            Figure(
                _("其中超过办理期限"),
                counts["area_overdue"],
                _url("changes:list", step="area_overdue"),
                _tone(counts["area_overdue"], "danger"),
            ),
        ]
    return figures


def _campaigns(user: User, *, today: date) -> list[CampaignFigure]:
    from xueji.verification.selectors import open_campaigns

    school_id = user.unit.school_id if user.unit is not None else None
    figures = []
    for item in open_campaigns(user, today=today):
        campaign = item.campaign
        if school_id is not None:
            url = reverse("verification:roll", args=[campaign.pk, school_id])
        else:
            url = reverse("verification:progress", args=[campaign.pk])
        figures.append(
            CampaignFigure(
                title=campaign.title,
                url=url,
                deadline=campaign.deadline,
                schools=item.schools,
                signed_off=item.signed_off,
                percent=item.percent,
                overdue=item.overdue,
            )
        )
    return figures


def _findings(user: User, *, authority: bool) -> list[Figure]:
    from xueji.anomalies.selectors import open_counts

    counts = open_counts(user)
    mine, below = counts["unit"]["all"], counts["subtree"]["all"]
    figures = [
        Figure(
            _("本单位待处理异常"), mine, _url("anomalies:list", tab="unit"), _tone(mine, "warning")
        )
    ]
    if authority:
        figures.append(
            Figure(
                _("下级单位待处理异常"),
                below,
                _url("anomalies:list", tab="subtree"),
                _tone(below, "warning"),
            )
        )
    return figures


def _warnings(user: User, *, authority: bool) -> list[Figure]:
    from xueji.audit.warnings import warning_counts

    counts = warning_counts(user)
    figures = [
        Figure(
            _("本单位未解除预警"),
            counts["mine"],
            reverse("warnings:list"),
            _tone(counts["mine"], "danger"),
        )
    ]
    if authority:
        figures.append(
            Figure(
                _("辖区未解除预警"),
                counts["area"],
                _url("warnings:list", tab="area"),
                _tone(counts["area"], "danger"),
            )
        )
    return figures


def dashboard(user: User, *, today: date | None = None) -> Dashboard:
    """The figures of the user's unit and its subtree that the user may read."""
    today = today or clock.today()
    board = Dashboard()
    if user.unit is None:
        return board
    authority = user.unit.kind != UnitKind.SCHOOL
    if has_permission(user, Permission.CHANGE_VIEW):
        board.steps = _steps(user, authority=authority, today=today)
    if has_permission(user, Permission.CAMPAIGN_VIEW):
        board.campaigns = _campaigns(user, today=today)
    if has_permission(user, Permission.ANOMALY_VIEW):
        board.findings = _findings(user, authority=authority)
    if has_permission(user, Permission.STUDENT_VIEW):
        board.warnings = _warnings(user, authority=authority)
    return board
