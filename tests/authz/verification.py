"""Routes of the semester confirmation campaigns (xueji/verification: pages under
/verification/, API under /api/campaigns).

``setup`` has 广东 (440000) open a provincial campaign ``{campaign}``: school A (天河) takes
part, school B (锦江, 四川) does not, so B's clerk and the 510104 reviewer meet the
campaign as not found. School A's clerk has opened its roll and marked every student
present, so the sign-off samples succeed.

Opening and closing campaigns is for national and province reviewers (``levels``): every
matrix actor (clerks, a county reviewer) is refused. Marking, opening the roll and signing
off are for the school's own clerk; the county reviewer reads the roll but does not mark
(403). Reading a roll also needs student view (personal data), which clerks and reviewers
hold.
"""

from datetime import timedelta

from tests.authz.vocab import AUTHORITY, LIST, NONE, OBJECT, TARGET, Policy, Sample, World
from xueji.accounts.rules import Permission as V


def setup(world: World) -> dict:
    from tests.factories import authority_user
    from xueji import clock
    from xueji.changes.rules import semester_of
    from xueji.verification import services

    school_year, semester = semester_of(clock.today())
    campaign = services.campaign_open(
        actor=authority_user("440000"),
        province_code="44",
        school_year=school_year,
        semester=semester,
        deadline=clock.today() + timedelta(days=30),
        title="矩阵核准",
    )
    services.roll_mark_all_present_except(
        actor=world.actors["clerk_in"], campaign_id=campaign.pk, except_ids={}
    )
    return {"campaign": campaign.pk}


def _opening(world: World) -> dict:
    return {"province_code": "44", "school_year": 2026, "semester": 2, "deadline": "2027-06-30"}


def _mark(world: World) -> dict:
    return {"student_ids": [world.student.pk], "mark": "absent", "note": "矩阵"}


def _mark_form(world: World) -> dict:
    return {"student_id": world.student.pk, "mark": "absent"}


ROLL = "/verification/{campaign}/schools/{school}/"

POLICY: dict[str, Policy] = {
    # -- pages --------------------------------------------------------------------------------
    "verification:list": Policy(
        "verification/", V.CAMPAIGN_VIEW, LIST, sample=Sample("GET", "/verification/")
    ),
    "verification:new": Policy(
        "verification/new/",
        V.CAMPAIGN_MANAGE,
        TARGET,
        levels=AUTHORITY,
        methods=("GET", "POST"),
        sample=Sample("GET", "/verification/new/", scope=NONE),
    ),
    "verification:progress": Policy(
        "verification/<int:campaign_id>/",
        V.CAMPAIGN_VIEW,
        OBJECT,
        sample=Sample("GET", "/verification/{campaign}/"),
    ),
    "verification:close": Policy(
        "verification/<int:campaign_id>/close/",
        V.CAMPAIGN_MANAGE,
        OBJECT,
        levels=AUTHORITY,
        methods=("POST",),
        sample=Sample("POST", "/verification/{campaign}/close/", ok=302),
    ),
    "verification:roll": Policy(
        "verification/<int:campaign_id>/schools/<int:school_id>/",
        V.CAMPAIGN_VIEW,
        OBJECT,
        sample=Sample("GET", ROLL),
    ),
    "verification:roll_open": Policy(
        "verification/<int:campaign_id>/roll/open/",
        V.CAMPAIGN_CONFIRM,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/verification/{campaign}/roll/open/", ok=302),
    ),
    "verification:mark": Policy(
        "verification/<int:campaign_id>/roll/mark/",
        V.CAMPAIGN_CONFIRM,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST", "/verification/{campaign}/roll/mark/", _mark_form, multipart=True, ok=302
        ),
    ),
    "verification:all_present": Policy(
        "verification/<int:campaign_id>/roll/all-present/",
        V.CAMPAIGN_CONFIRM,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/verification/{campaign}/roll/all-present/", ok=302),
    ),
    "verification:sign_off": Policy(
        "verification/<int:campaign_id>/roll/sign-off/",
        V.CAMPAIGN_CONFIRM,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/verification/{campaign}/roll/sign-off/", ok=302),
    ),
    # -- the API ------------------------------------------------------------------------------
    "api:list_campaigns": Policy(
        "api/campaigns", V.CAMPAIGN_VIEW, LIST, sample=Sample("GET", "/api/campaigns")
    ),
    "api:open_campaign": Policy(
        "api/campaigns",
        V.CAMPAIGN_MANAGE,
        TARGET,
        levels=AUTHORITY,
        methods=("POST",),
        sample=Sample("POST", "/api/campaigns", _opening, ok=201),
    ),
    "api:close_campaign": Policy(
        "api/campaigns/<int:campaign_id>/close",
        V.CAMPAIGN_MANAGE,
        OBJECT,
        levels=AUTHORITY,
        methods=("POST",),
        sample=Sample("POST", "/api/campaigns/{campaign}/close"),
    ),
    "api:get_progress": Policy(
        "api/campaigns/<int:campaign_id>/progress",
        V.CAMPAIGN_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/campaigns/{campaign}/progress"),
    ),
    "api:get_roll": Policy(
        "api/campaigns/<int:campaign_id>/schools/<int:school_id>/roll",
        V.CAMPAIGN_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/campaigns/{campaign}/schools/{school}/roll"),
    ),
    "api:open_roll": Policy(
        "api/campaigns/<int:campaign_id>/roll/open",
        V.CAMPAIGN_CONFIRM,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/campaigns/{campaign}/roll/open"),
    ),
    "api:mark_students": Policy(
        "api/campaigns/<int:campaign_id>/roll/marks",
        V.CAMPAIGN_CONFIRM,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/campaigns/{campaign}/roll/marks", _mark),
    ),
    "api:mark_all_present": Policy(
        "api/campaigns/<int:campaign_id>/roll/all-present",
        V.CAMPAIGN_CONFIRM,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/campaigns/{campaign}/roll/all-present", lambda w: {}),
    ),
    "api:sign_off": Policy(
        "api/campaigns/<int:campaign_id>/roll/sign-off",
        V.CAMPAIGN_CONFIRM,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/campaigns/{campaign}/roll/sign-off", lambda w: {}),
    ),
}
