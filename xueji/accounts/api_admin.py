"""Account administration over the API: the system admin's accounts, roles, training records
and tokens; the security admin's unseal and unlock; every account's own tokens.

Bodies parse, call one selector or service, and shape the output. The services check the
admin duty, the subtree and the grant rules themselves and audit every refusal.
"""

from datetime import date, datetime

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from xueji import clock
from xueji.api_types import IsoDate, IsoDateTime
from xueji.i18n import gettext_lazy_str as _

from . import selectors, services
from .models import ApiToken, TrainingRecord, User
from .permissions import require_permission
from .rules import Permission, training_valid

router = Router(tags=[_("账号管理")])


# ---------------------------------------------------------------- schemas


class AccountOut(Schema):
    id: int
    username: str
    full_name: str
    unit_id: int | None
    unit_name: str
    unit_kind: str
    roles: list[str]
    is_active: bool
    must_change_password: bool
    date_joined: datetime
    last_seen_at: datetime | None
    password_changed_at: datetime | None
    locked_until: datetime | None
    sealed_at: datetime | None
    sealed_reason: str
    disabled_at: datetime | None
    disabled_reason: str


class AccountPage(Schema):
    items: list[AccountOut]
    next_cursor: int | None


class AccountIn(Schema):
    unit_code: str = Field(
        "", description=_("6位行政区划代码、10位学校标识码或 99（单列管理）；留空为本单位")
    )
    username: str
    full_name: str = ""
    phone: str = ""
    roles: list[str]
    password: str = Field("", description=_("留空则生成随机初始密码（只显示一次）"))


class AccountCreatedOut(Schema):
    account: AccountOut
    initial_password: str


class RolesIn(Schema):
    roles: list[str]


class ReasonIn(Schema):
    reason: str = ""


class PasswordResetOut(Schema):
    account_id: int
    temporary_password: str


class TrainingIn(Schema):
    course: str
    completed_on: IsoDate
    certificate_no: str
    expires_on: IsoDate | None = None


class TrainingOut(Schema):
    id: int
    course: str
    completed_on: date
    certificate_no: str
    expires_on: date | None
    recorded_by: str
    recorded_at: datetime
    valid_today: bool


class TokenIn(Schema):
    name: str
    expires_at: IsoDateTime | None = Field(None, description=_("必填，最长一年"))
    rate_per_minute: int = Field(0, description=_("每分钟请求上限；0 为默认值"))


class TokenOut(Schema):
    id: int
    user_id: int
    username: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    rate_per_minute: int


class TokenIssuedOut(Schema):
    token: TokenOut
    secret: str = Field(description=_("令牌明文，只显示这一次"))


class WorkloadQuery(Schema):
    date_from: IsoDate | None = None
    date_to: IsoDate | None = None


class WorkloadRowOut(Schema):
    user_id: int
    username: str
    full_name: str
    unit_id: int | None
    unit_name: str
    students_on_roll: int
    operations: int
    trained: bool


class WorkloadOut(Schema):
    date_from: date
    date_to: date
    rows: list[WorkloadRowOut]


# ---------------------------------------------------------------- shaping


def account_out(user: User) -> AccountOut:
    unit = user.unit
    return AccountOut(
        id=user.pk,
        username=user.username,
        full_name=user.full_name,
        unit_id=user.unit_id,
        unit_name=unit.name if unit else "",
        unit_kind=unit.kind if unit else "",
        roles=selectors.roles_of(user),
        is_active=user.is_active,
        must_change_password=user.must_change_password,
        date_joined=user.date_joined,
        last_seen_at=user.last_seen_at,
        password_changed_at=user.password_changed_at,
        locked_until=user.locked_until,
        sealed_at=user.sealed_at,
        sealed_reason=user.sealed_reason,
        disabled_at=user.disabled_at,
        disabled_reason=user.disabled_reason,
    )


def token_out(token: ApiToken) -> TokenOut:
    return TokenOut(
        id=token.pk,
        user_id=token.user_id,
        username=token.user.username,
        name=token.name,
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        revoked_at=token.revoked_at,
        last_used_at=token.last_used_at,
        rate_per_minute=token.rate_per_minute,
    )


def training_out(record: TrainingRecord, today: date) -> TrainingOut:
    return TrainingOut(
        id=record.pk,
        course=record.course,
        completed_on=record.completed_on,
        certificate_no=record.certificate_no,
        expires_on=record.expires_on,
        recorded_by=record.recorded_by,
        recorded_at=record.recorded_at,
        valid_today=training_valid(
            completed_on=record.completed_on, expires_on=record.expires_on, today=today
        ),
    )


def _managed(request: HttpRequest, user_id: int) -> User:
    require_permission(request.auth, Permission.ACCOUNT_MANAGE)  # type: ignore[attr-defined]
    return selectors.access_account(request.auth, user_id=user_id)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- accounts


@router.get("/accounts", response=AccountPage, summary=_("账号列表（本单位及下级，键集分页）"))
def list_accounts(
    request: HttpRequest,
    q: str = "",
    role: str = "",
    state: str = "",
    after: int = 0,
    limit: int = 50,
):
    require_permission(request.auth, Permission.ACCOUNT_MANAGE)  # type: ignore[attr-defined]
    limit = max(1, min(limit, 500))
    qs = selectors.account_list(request.auth, search=q, role=role, state=state).order_by("pk")  # type: ignore[attr-defined]
    rows = list(qs.filter(pk__gt=after)[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return AccountPage(
        items=[account_out(u) for u in rows], next_cursor=rows[-1].pk if more and rows else None
    )


@router.post("/accounts", response={201: AccountCreatedOut}, summary=_("新建账号（系统管理员）"))
def create_account(request: HttpRequest, payload: AccountIn):
    created = services.account_create(actor=request.auth, **payload.dict())  # type: ignore[attr-defined]
    account = selectors.access_account(request.auth, user_id=created.user.pk)  # type: ignore[attr-defined]
    return Status(
        201,
        AccountCreatedOut(account=account_out(account), initial_password=created.initial_password),
    )


@router.get("/accounts/{int:user_id}", response=AccountOut, summary=_("账号详情"))
def get_account(request: HttpRequest, user_id: int):
    return account_out(_managed(request, user_id))


@router.put("/accounts/{int:user_id}/roles", response=AccountOut, summary=_("修改账号角色"))
def update_account_roles(request: HttpRequest, user_id: int, payload: RolesIn):
    services.account_update_roles(actor=request.auth, user_id=user_id, roles=payload.roles)  # type: ignore[attr-defined]
    return account_out(selectors.access_account(request.auth, user_id=user_id))  # type: ignore[attr-defined]


@router.post("/accounts/{int:user_id}/disable", response=AccountOut, summary=_("停用账号（离岗）"))
def disable_account(request: HttpRequest, user_id: int, payload: ReasonIn):
    services.account_disable(actor=request.auth, user_id=user_id, reason=payload.reason)  # type: ignore[attr-defined]
    return account_out(selectors.access_account(request.auth, user_id=user_id))  # type: ignore[attr-defined]


@router.post("/accounts/{int:user_id}/enable", response=AccountOut, summary=_("启用账号"))
def enable_account(request: HttpRequest, user_id: int, payload: ReasonIn):
    services.account_enable(actor=request.auth, user_id=user_id, reason=payload.reason)  # type: ignore[attr-defined]
    return account_out(selectors.access_account(request.auth, user_id=user_id))  # type: ignore[attr-defined]


@router.post(
    "/accounts/{int:user_id}/password-reset",
    response=PasswordResetOut,
    summary=_("重置密码（生成临时密码，首次登录须修改）"),
)
def reset_account_password(request: HttpRequest, user_id: int):
    password = services.account_password_reset(actor=request.auth, user_id=user_id)  # type: ignore[attr-defined]
    return PasswordResetOut(account_id=user_id, temporary_password=password)


@router.post(
    "/accounts/{int:user_id}/unseal", response=AccountOut, summary=_("解封账号（上级安全管理员）")
)
def unseal_account(request: HttpRequest, user_id: int, payload: ReasonIn):
    user = services.account_unseal(actor=request.auth, user_id=user_id, reason=payload.reason)  # type: ignore[attr-defined]
    return account_out(user)


@router.post(
    "/accounts/{int:user_id}/unlock", response=AccountOut, summary=_("解除锁定（上级安全管理员）")
)
def unlock_account(request: HttpRequest, user_id: int, payload: ReasonIn):
    user = services.account_unlock(actor=request.auth, user_id=user_id, reason=payload.reason)  # type: ignore[attr-defined]
    return account_out(user)


# ---------------------------------------------------------------- training records


@router.get("/accounts/{int:user_id}/trainings", response=list[TrainingOut], summary=_("培训记录"))
def list_trainings(request: HttpRequest, user_id: int):
    user = _managed(request, user_id)
    today = clock.today()
    return [training_out(r, today) for r in selectors.trainings_of(user)]


@router.post(
    "/accounts/{int:user_id}/trainings",
    response={201: TrainingOut},
    summary=_("登记培训（先培训后上岗）"),
)
def create_training(request: HttpRequest, user_id: int, payload: TrainingIn):
    record = services.training_record_create(actor=request.auth, user_id=user_id, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, training_out(record, clock.today()))


# ---------------------------------------------------------------- API tokens


@router.get("/accounts/{int:user_id}/tokens", response=list[TokenOut], summary=_("账号的 API 令牌"))
def list_account_tokens(request: HttpRequest, user_id: int):
    user = _managed(request, user_id)
    return [token_out(t) for t in selectors.tokens_of(user).select_related("user")]


@router.post(
    "/accounts/{int:user_id}/tokens",
    response={201: TokenIssuedOut},
    summary=_("签发 API 令牌（明文只返回一次）"),
)
def issue_account_token(request: HttpRequest, user_id: int, payload: TokenIn):
    issued = services.account_token_issue(actor=request.auth, user_id=user_id, **payload.dict())  # type: ignore[attr-defined]
    return Status(201, TokenIssuedOut(token=token_out(issued.token), secret=issued.secret))


@router.get("/accounts/me/tokens", response=list[TokenOut], summary=_("我的 API 令牌"))
def list_my_tokens(request: HttpRequest):
    return [token_out(t) for t in selectors.tokens_of(request.auth).select_related("user")]  # type: ignore[attr-defined]


@router.post(
    "/accounts/tokens/{int:token_id}/revoke", response=TokenOut, summary=_("吊销 API 令牌")
)
def revoke_token(request: HttpRequest, token_id: int):
    return token_out(services.account_token_revoke(actor=request.auth, token_id=token_id))  # type: ignore[attr-defined]


# ---------------------------------------------------------------- workload


@router.get("/accounts/workload", response=WorkloadOut, summary=_("学籍管理员工作量"))
def workload(request: HttpRequest, query: Query[WorkloadQuery]):
    selectors.require_workload_access(request.auth)  # type: ignore[attr-defined]
    date_from, date_to = selectors.workload_period(
        date_from=query.date_from, date_to=query.date_to, today=clock.today()
    )
    rows = selectors.clerk_workload(request.auth, date_from=date_from, date_to=date_to)  # type: ignore[attr-defined]
    return WorkloadOut(
        date_from=date_from,
        date_to=date_to,
        rows=[
            WorkloadRowOut(
                user_id=row.user.pk,
                username=row.user.username,
                full_name=row.user.full_name,
                unit_id=row.user.unit_id,
                unit_name=row.user.unit.name if row.user.unit else "",
                students_on_roll=row.students,
                operations=row.operations,
                trained=row.trained,
            )
            for row in rows
        ],
    )
