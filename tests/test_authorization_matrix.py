"""The authorization matrix, generated from the URL configuration.

Every route Django knows (the API's operations, every page, health) must have an entry in
``POLICY``: who may use it (public, any signed-in account, or a permission, possibly
restricted to unit levels) and how it is scoped. A new route without an entry fails
``test_every_route_has_a_declared_policy`` with its name, so nothing escapes the matrix.

Each entry with a ``Sample`` is then tried as five actors — anonymous, a clerk in scope, a
clerk out of scope, a reviewer in scope and a reviewer out of scope — and the status is
compared with what the policy implies. Out-of-scope actors must also never see the
in-scope student's number or name, the school's code, or another unit's import job.
"""

import csv
import importlib
import io
import pkgutil
import re
from dataclasses import dataclass, field
from datetime import date
from uuid import UUID

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

import tests.authz as authz_package
from config.api import api
from tests.authz.vocab import (
    AREA,
    AUTHORITY,
    LIST,
    NONE,
    OBJECT,
    PUBLIC,
    ROWS,
    SIGNED_IN,
    TARGET,
    UNIT,
    UNIT_LIST,
    Policy,
    Sample,
)
from tests.factories import SchoolFactory, authority_user, make_user, registration, resident_id
from xueji.accounts.rules import Permission, permissions_for
from xueji.exchange.columns import STUDENT_COLUMNS
from xueji.exchange.services import import_job_create, import_job_run
from xueji.students.nonbasic import DEFAULT_SCHEMA_FIELDS
from xueji.students.services import student_register


def _student_payload(world: "World") -> dict:
    data = registration(world.school, name="矩阵新生", born=date(2015, 2, 3))
    guardian = {
        "name": data.pop("guardian_name"),
        "relation": data.pop("guardian_relation"),
        "id_number": data.pop("guardian_id_number"),
        "phone": data.pop("guardian_phone"),
    }
    return {**data, "guardians": [guardian], "non_basic": {"left_behind": data.pop("left_behind")}}


def _school_payload(world: "World") -> dict:
    return {
        "code": "1144017777",
        "name": "矩阵新建小学",
        "school_type": "211",
        "division_code": "440106",
    }


def _csv_upload(world: "World") -> dict:
    content = _csv_bytes([registration(world.school, name="矩阵导入生", born=date(2015, 4, 4))])
    return {"file": SimpleUploadedFile("students.csv", content, "text/csv"), "mode": "valid_rows"}


V = Permission
POLICY: dict[str, Policy] = {
    # -- the API: documentation (signed-in accounts only: XUEJI_API_DOCS, issue 10) --------
    "api:openapi-json": Policy(
        "api/openapi.json", SIGNED_IN, sample=Sample("GET", "/api/openapi.json")
    ),
    "api:openapi-view": Policy("api/docs", SIGNED_IN, sample=Sample("GET", "/api/docs")),
    # ninja's marker view for the API root: a 404 for everybody.
    "api:api-root": Policy("api/", PUBLIC, sample=Sample("GET", "/api/", ok=404)),
    # -- the API: accounts and reference data ---------------------------------------------------
    "api:me": Policy("api/me", SIGNED_IN, sample=Sample("GET", "/api/me")),
    # Security admins above the account only. The matrix's actors lack the role: 403 for any id.
    "api:reset_second_factor": Policy(
        "api/accounts/<int:user_id>/second-factor/reset",
        V.SECURITY_MANAGE,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST", "/api/accounts/{student}/second-factor/reset", lambda w: {"reason": "矩阵"}
        ),
    ),
    "api:list_divisions": Policy(
        "api/divisions", V.DIVISION_VIEW, sample=Sample("GET", "/api/divisions?parent=440100")
    ),
    "api:get_division": Policy(
        "api/divisions/<code>", V.DIVISION_VIEW, sample=Sample("GET", "/api/divisions/440106")
    ),
    "api:list_codes": Policy(
        "api/codes/<table>", V.DIVISION_VIEW, sample=Sample("GET", "/api/codes/grade")
    ),
    # -- the API: account administration (xueji/accounts/api_admin.py) ---------------------------
    # The admin duties: the matrix's actors (clerks, reviewers) hold none, so each answers
    # 403 before any lookup; in-scope and refused cases are in accounts/tests/test_admin_views.
    "api:list_accounts": Policy(
        "api/accounts", V.ACCOUNT_MANAGE, LIST, sample=Sample("GET", "/api/accounts")
    ),
    "api:create_account": Policy(
        "api/accounts",
        V.ACCOUNT_MANAGE,
        TARGET,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/api/accounts",
            lambda w: {"unit_code": w.school.code, "username": "matrix-new", "roles": ["clerk"]},
            ok=201,
        ),
    ),
    "api:get_account": Policy(
        "api/accounts/<int:user_id>",
        V.ACCOUNT_MANAGE,
        OBJECT,
        sample=Sample("GET", "/api/accounts/{student}"),
    ),
    "api:update_account_roles": Policy(
        "api/accounts/<int:user_id>/roles",
        V.ACCOUNT_MANAGE,
        OBJECT,
        methods=("PUT",),
        sample=Sample("PUT", "/api/accounts/{student}/roles", lambda w: {"roles": ["reviewer"]}),
    ),
    "api:disable_account": Policy(
        "api/accounts/<int:user_id>/disable",
        V.ACCOUNT_MANAGE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/accounts/{student}/disable", lambda w: {"reason": "矩阵"}),
    ),
    "api:enable_account": Policy(
        "api/accounts/<int:user_id>/enable",
        V.ACCOUNT_MANAGE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/accounts/{student}/enable", lambda w: {"reason": "矩阵"}),
    ),
    "api:reset_account_password": Policy(
        "api/accounts/<int:user_id>/password-reset",
        V.ACCOUNT_MANAGE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/accounts/{student}/password-reset"),
    ),
    "api:unseal_account": Policy(
        "api/accounts/<int:user_id>/unseal",
        V.SECURITY_MANAGE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/accounts/{student}/unseal", lambda w: {"reason": "矩阵"}),
    ),
    "api:unlock_account": Policy(
        "api/accounts/<int:user_id>/unlock",
        V.SECURITY_MANAGE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/accounts/{student}/unlock", lambda w: {"reason": "矩阵"}),
    ),
    "api:list_trainings": Policy(
        "api/accounts/<int:user_id>/trainings",
        V.ACCOUNT_MANAGE,
        OBJECT,
        sample=Sample("GET", "/api/accounts/{student}/trainings"),
    ),
    "api:create_training": Policy(
        "api/accounts/<int:user_id>/trainings",
        V.ACCOUNT_MANAGE,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/api/accounts/{student}/trainings",
            lambda w: {
                "course": "矩阵",
                "completed_on": "2025-01-01",
                "certificate_no": "M1",
                "expires_on": "2027-01-01",
            },
            ok=201,
        ),
    ),
    "api:list_account_tokens": Policy(
        "api/accounts/<int:user_id>/tokens",
        V.ACCOUNT_MANAGE,
        OBJECT,
        sample=Sample("GET", "/api/accounts/{student}/tokens"),
    ),
    "api:issue_account_token": Policy(
        "api/accounts/<int:user_id>/tokens",
        V.ACCOUNT_MANAGE,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/accounts/{student}/tokens", lambda w: {"name": "矩阵"}, ok=201),
    ),
    "api:workload": Policy(
        "api/accounts/workload",
        (V.ACCOUNT_MANAGE, V.SECURITY_MANAGE),
        LIST,
        sample=Sample("GET", "/api/accounts/workload"),
    ),
    # Every account lists and revokes its own tokens; another's token is not found (the
    # sample names no token: 404 for every signed-in actor).
    "api:list_my_tokens": Policy(
        "api/accounts/me/tokens", SIGNED_IN, LIST, sample=Sample("GET", "/api/accounts/me/tokens")
    ),
    "api:revoke_token": Policy(
        "api/accounts/tokens/<int:token_id>/revoke",
        SIGNED_IN,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/api/accounts/tokens/999999/revoke", ok=404),
    ),
    # -- the API: schools --------------------------------------------------------------------
    "api:list_schools": Policy(
        "api/schools", V.SCHOOL_VIEW, LIST, sample=Sample("GET", "/api/schools")
    ),
    "api:create_school": Policy(
        "api/schools",
        V.SCHOOL_EDIT,
        AREA,
        methods=("POST",),
        sample=Sample("POST", "/api/schools", _school_payload, ok=201),
    ),
    "api:get_school": Policy(
        "api/schools/<school_id>",
        V.SCHOOL_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/schools/{school}"),
    ),
    "api:update_school": Policy(
        "api/schools/<school_id>",
        V.SCHOOL_EDIT,
        OBJECT,
        methods=("PATCH",),
        sample=Sample("PATCH", "/api/schools/{school}", lambda w: {"address": "矩阵路1号"}),
    ),
    # -- the API: students -------------------------------------------------------------------
    "api:list_students": Policy(
        "api/students", V.STUDENT_VIEW, LIST, sample=Sample("GET", "/api/students")
    ),
    # The list's search with the term in the body (never a number in a URL).
    "api:search_students": Policy(
        "api/students/search",
        V.STUDENT_VIEW,
        LIST,
        methods=("POST",),
        sample=Sample("POST", "/api/students/search", lambda w: {"q": ""}),
    ),
    "api:register_student": Policy(
        "api/students",
        V.STUDENT_REGISTER,
        TARGET,
        methods=("POST",),
        sample=Sample("POST", "/api/students", _student_payload, ok=201),
        full_number=("clerk_in",),  # the registering clerk's new student's detail
    ),
    "api:get_student": Policy(
        "api/students/<int:student_id>",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/students/{student}"),
        full_number=("clerk_in",),
    ),
    "api:student_as_of": Policy(
        "api/students/<int:student_id>/as-of",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/students/{student}/as-of?on=2025-01-01"),
    ),
    "api:reveal_student_field": Policy(
        "api/students/<int:student_id>/reveal",
        V.STUDENT_VIEW,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/api/students/{student}/reveal",
            lambda w: {"field": "id_number", "reason": "核对身份证件"},
        ),
        full_number=("clerk_in", "reviewer_in"),  # with a reason, audited
    ),
    "api:validate_student": Policy(
        "api/students/validate",
        V.STUDENT_REGISTER,
        TARGET,
        methods=("POST",),
        sample=Sample("POST", "/api/students/validate", _student_payload),
    ),
    "api:list_nonbasic_schemas": Policy(
        "api/nonbasic-schemas",
        V.DIVISION_VIEW,
        LIST,
        sample=Sample("GET", "/api/nonbasic-schemas"),
    ),
    "api:file_nonbasic_schema": Policy(
        "api/nonbasic-schemas",
        V.SCHEMA_FILE,
        NONE,
        levels=AUTHORITY,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/api/nonbasic-schemas",
            lambda w: {"fields": DEFAULT_SCHEMA_FIELDS, "note": "矩阵"},
            ok=201,
        ),
    ),
    # -- the API: import jobs ----------------------------------------------------------------
    "api:download_template": Policy(
        "api/imports/template",
        V.STUDENT_IMPORT,
        sample=Sample("GET", "/api/imports/template?kind=students"),
    ),
    "api:submit_import": Policy(
        "api/imports",
        V.STUDENT_IMPORT,
        ROWS,
        methods=("POST",),
        sample=Sample("POST", "/api/imports", _csv_upload, multipart=True, ok=202),
    ),
    "api:list_imports": Policy(
        "api/imports", SIGNED_IN, UNIT_LIST, sample=Sample("GET", "/api/imports")
    ),
    "api:get_import": Policy(
        "api/imports/<job_id>", SIGNED_IN, UNIT, sample=Sample("GET", "/api/imports/{job}")
    ),
    "api:import_errors": Policy(
        "api/imports/<job_id>/errors",
        SIGNED_IN,
        UNIT,
        sample=Sample("GET", "/api/imports/{job}/errors"),
    ),
    "api:import_errors_csv": Policy(
        "api/imports/<job_id>/errors.csv",
        SIGNED_IN,
        UNIT,
        sample=Sample("GET", "/api/imports/{job}/errors.csv"),
    ),
    # -- outside the API ---------------------------------------------------------------------
    "health": Policy("healthz", PUBLIC, sample=Sample("GET", "/healthz")),
    # Any /api/ path no operation matches: the API's JSON 404 for everybody.
    "api_not_found": Policy("^api/", PUBLIC, sample=Sample("GET", "/api/no-such-endpoint", ok=404)),
    # Django's set_language: POST only, stores the choice and redirects back.
    "set_language": Policy(
        "i18n/setlang/", PUBLIC, methods=("POST",), sample=Sample("POST", "/i18n/setlang/", ok=302)
    ),
    "web:home": Policy("", SIGNED_IN, LIST, sample=Sample("GET", "/")),
    "web:login": Policy("login/", PUBLIC, methods=("GET", "POST"), sample=Sample("GET", "/login/")),
    # Django's LogoutView takes POST only; signing out needs no account.
    "web:logout": Policy("logout/", PUBLIC, methods=("POST",)),
    # One's own password: any signed-in account (the only page open while a change is due).
    "accounts:password_change": Policy(
        "accounts/password/",
        SIGNED_IN,
        methods=("GET", "POST"),
        sample=Sample("GET", "/accounts/password/"),
    ),
    # -- pages: the second factor -----------------------------------------------------------
    # The sign-in step and the enrolment serve the account parked by the password step (no
    # session yet); without one they send the visitor to the sign-in page.
    "accounts:second_factor": Policy(
        "accounts/second-factor/",
        PUBLIC,
        methods=("GET", "POST"),
        sample=Sample("GET", "/accounts/second-factor/", ok=302),
    ),
    "accounts:twofactor_enrol": Policy(
        "accounts/second-factor/enrol/",
        PUBLIC,
        methods=("GET", "POST"),
        sample=Sample("GET", "/accounts/second-factor/enrol/", ok=302),
    ),
    "accounts:twofactor_status": Policy(
        "accounts/me/second-factor/",
        SIGNED_IN,
        methods=("GET", "POST"),
        sample=Sample("GET", "/accounts/me/second-factor/"),
    ),
    "accounts:twofactor_reset": Policy(
        "accounts/<int:user_id>/second-factor/reset/",
        V.SECURITY_MANAGE,
        OBJECT,
        methods=("GET", "POST"),
        sample=Sample("GET", "/accounts/{student}/second-factor/reset/"),
    ),
    # -- pages: account administration and security (accounts/views/admin.py, security.py) --
    "accounts:admin_list": Policy(
        "accounts/admin/", V.ACCOUNT_MANAGE, LIST, sample=Sample("GET", "/accounts/admin/")
    ),
    "accounts:admin_create": Policy(
        "accounts/admin/new/",
        V.ACCOUNT_MANAGE,
        TARGET,
        methods=("GET", "POST"),
        sample=Sample("GET", "/accounts/admin/new/", scope=NONE),
    ),
    "accounts:admin_detail": Policy(
        "accounts/admin/<int:user_id>/",
        V.ACCOUNT_MANAGE,
        OBJECT,
        sample=Sample("GET", "/accounts/admin/{student}/"),
    ),
    **{
        f"accounts:admin_{name}": Policy(
            f"accounts/admin/<int:user_id>/{segment}/",
            V.ACCOUNT_MANAGE,
            OBJECT,
            methods=("GET", "POST"),
            sample=Sample("GET", f"/accounts/admin/{{student}}/{segment}/"),
        )
        for name, segment in (
            ("roles", "roles"),
            ("disable", "disable"),
            ("enable", "enable"),
            ("password_reset", "password"),
            ("training", "training"),
            ("tokens", "tokens"),
        )
    },
    "accounts:my_tokens": Policy(
        "accounts/me/tokens/", SIGNED_IN, LIST, sample=Sample("GET", "/accounts/me/tokens/")
    ),
    "accounts:token_revoke": Policy(
        "accounts/tokens/<int:token_id>/revoke/",
        SIGNED_IN,
        OBJECT,
        methods=("POST",),
        sample=Sample("POST", "/accounts/tokens/999999/revoke/", ok=404),
    ),
    "accounts:workload": Policy(
        "accounts/workload/",
        (V.ACCOUNT_MANAGE, V.SECURITY_MANAGE),
        LIST,
        sample=Sample("GET", "/accounts/workload/"),
    ),
    "accounts:workload_csv": Policy(
        "accounts/workload.csv",
        (V.ACCOUNT_MANAGE, V.SECURITY_MANAGE),
        LIST,
        sample=Sample("GET", "/accounts/workload.csv"),
    ),
    "accounts:security": Policy(
        "accounts/security/", V.SECURITY_MANAGE, LIST, sample=Sample("GET", "/accounts/security/")
    ),
    **{
        f"accounts:{name}": Policy(
            f"accounts/security/<int:user_id>/{name}/",
            V.SECURITY_MANAGE,
            OBJECT,
            methods=("GET", "POST"),
            sample=Sample("GET", f"/accounts/security/{{student}}/{name}/"),
        )
        for name in ("unseal", "unlock")
    },
    # -- pages: students ---------------------------------------------------------------------
    "students:list": Policy("students/", V.STUDENT_VIEW, LIST, sample=Sample("GET", "/students/")),
    "students:register": Policy(
        "students/register/",
        V.STUDENT_REGISTER,
        TARGET,
        methods=("GET", "POST"),
        sample=Sample("GET", "/students/register/", scope=NONE),
    ),
    "students:check": Policy(
        "students/register/check/", V.STUDENT_REGISTER, TARGET, methods=("POST",)
    ),
    "students:detail": Policy(
        "students/<int:student_id>/",
        V.STUDENT_VIEW,
        OBJECT,
        sample=Sample("GET", "/students/{student}/"),
        full_number=("clerk_in",),
    ),
    "students:reveal": Policy(
        "students/<int:student_id>/reveal/",
        V.STUDENT_VIEW,
        OBJECT,
        methods=("GET", "POST"),
        sample=Sample("GET", "/students/{student}/reveal/?field=id_number"),
    ),
    # -- pages: schools ----------------------------------------------------------------------
    "schools:list": Policy("schools/", V.SCHOOL_VIEW, LIST, sample=Sample("GET", "/schools/")),
    "schools:create": Policy(
        "schools/new/",
        V.SCHOOL_EDIT,
        AREA,
        methods=("GET", "POST"),
        sample=Sample("GET", "/schools/new/", scope=NONE),
    ),
    "schools:detail": Policy(
        "schools/<int:school_id>/",
        V.SCHOOL_VIEW,
        OBJECT,
        sample=Sample("GET", "/schools/{school}/"),
    ),
    "schools:edit": Policy(
        "schools/<int:school_id>/edit/",
        V.SCHOOL_EDIT,
        OBJECT,
        methods=("GET", "POST"),
        sample=Sample("GET", "/schools/{school}/edit/"),
    ),
    # -- pages: imports ----------------------------------------------------------------------
    "imports:new": Policy(
        "imports/",
        V.STUDENT_IMPORT,
        ROWS,
        methods=("GET", "POST"),
        sample=Sample("GET", "/imports/"),
    ),
    "imports:template": Policy(
        "imports/template.xlsx", V.STUDENT_IMPORT, sample=Sample("GET", "/imports/template.xlsx")
    ),
    "imports:schools": Policy(
        "imports/schools/",
        V.SCHOOL_EDIT,
        ROWS,
        methods=("GET", "POST"),
        sample=Sample("GET", "/imports/schools/"),
    ),
    "imports:school_template": Policy(
        "imports/schools/template.xlsx",
        V.SCHOOL_EDIT,
        sample=Sample("GET", "/imports/schools/template.xlsx"),
    ),
    "imports:jobs": Policy(
        "imports/jobs/",
        (V.STUDENT_IMPORT, V.SCHOOL_EDIT),
        UNIT_LIST,
        sample=Sample("GET", "/imports/jobs/"),
    ),
    "imports:detail": Policy(
        "imports/jobs/<uuid:job_id>/",
        (V.STUDENT_IMPORT, V.SCHOOL_EDIT),
        UNIT,
        sample=Sample("GET", "/imports/jobs/{job}/"),
    ),
    "imports:progress": Policy(
        "imports/jobs/<uuid:job_id>/progress/",
        (V.STUDENT_IMPORT, V.SCHOOL_EDIT),
        UNIT,
        sample=Sample("GET", "/imports/jobs/{job}/progress/"),
    ),
    "imports:errors_csv": Policy(
        "imports/jobs/<uuid:job_id>/errors.csv",
        (V.STUDENT_IMPORT, V.SCHOOL_EDIT),
        UNIT,
        sample=Sample("GET", "/imports/jobs/{job}/errors.csv"),
    ),
    "imports:errors_xlsx": Policy(
        "imports/jobs/<uuid:job_id>/errors.xlsx",
        (V.STUDENT_IMPORT, V.SCHOOL_EDIT),
        UNIT,
        sample=Sample("GET", "/imports/jobs/{job}/errors.xlsx"),
    ),
}


# ----------------------------------------------------------------- walking the URLconf


def _walk(patterns, prefix: str = "", namespaces: tuple[str, ...] = ()):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            route = prefix + str(entry.pattern)
            name = ":".join((*namespaces, entry.name)) if entry.name else route
            yield name, route


# Each app's routes beyond the foundation are declared in its own module of tests/authz.
POLICY_MODULES = [
    importlib.import_module(f"tests.authz.{info.name}")
    for info in pkgutil.iter_modules(authz_package.__path__)
    if info.name != "vocab"
]
for _module in POLICY_MODULES:
    _clash = set(POLICY) & set(_module.POLICY)
    assert not _clash, f"{_module.__name__} declares routes twice: {_clash}"
    POLICY.update(_module.POLICY)

ROUTES: dict[str, set[str]] = {}
for _name, _route in _walk(get_resolver().url_patterns):
    ROUTES.setdefault(_name, set()).add(_route)


def _is_api(name: str) -> bool:
    return name.startswith("api:")


def test_every_route_has_a_declared_policy():
    missing = sorted(
        f"{name} ({', '.join(sorted(routes))})"
        for name, routes in ROUTES.items()
        if name not in POLICY
    )
    if missing:
        pytest.fail("endpoint has no declared policy: " + "; ".join(missing))


def test_every_policy_names_a_route_that_exists_at_its_path():
    stale = sorted(name for name in POLICY if name not in ROUTES)
    assert not stale, f"policy for routes that no longer exist: {stale}"
    moved = sorted(
        f"{name}: declared {policy.path!r}, routed {sorted(ROUTES[name])}"
        for name, policy in POLICY.items()
        if policy.path not in ROUTES[name]
    )
    assert not moved, f"routes whose path changed: {moved}"


# The documentation itself (signed-in only, XUEJI_API_DOCS) is not an operation of the
# document it serves.
API_DOCUMENTATION = frozenset({"api:openapi-json", "api:openapi-view"})


def _openapi_path(route: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)


def test_every_api_operation_is_declared_with_its_method():
    """The OpenAPI document lists every operation with its method: each must match one
    policy, so a new method on an existing path cannot hide behind its sibling's entry."""
    schema = api.get_openapi_schema()
    operations = {
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }
    declared = {
        (method, _openapi_path(policy.path))
        for name, policy in POLICY.items()
        if _is_api(name) and policy.access != PUBLIC and name not in API_DOCUMENTATION
        for method in policy.methods
    }
    assert operations == declared


def test_every_non_public_api_route_has_a_sample():
    """The API is the machine surface: each of its routes is exercised below."""
    without = sorted(
        name
        for name, policy in POLICY.items()
        if _is_api(name) and policy.access != PUBLIC and policy.sample is None
    )
    assert not without, f"API routes without a sample request: {without}"


# ----------------------------------------------------------------- the world and the actors


def _csv_bytes(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([c.header for c in STUDENT_COLUMNS])
    for row in rows:
        writer.writerow([row.get(c.key, "") for c in STUDENT_COLUMNS])
    return buffer.getvalue().encode("utf-8")


@dataclass
class World:
    school: object
    other_school: object
    student: object
    job_id: UUID
    actors: dict
    # Placeholders the per-app policy modules' ``setup(world)`` add (a transfer's id, say).
    extra: dict = field(default_factory=dict)


ACTORS = ("anonymous", "clerk_in", "clerk_out", "reviewer_in", "reviewer_out")


def _build_world() -> World:
    """School A (天河) with a student and a finished import job of its clerk; school B (锦江).

    The schools and clerks are those of the root conftest's ``school``, ``other_school``,
    ``school_user`` and ``other_school_user`` fixtures.
    """
    school = SchoolFactory(name="天河区第一实验小学", division_code="440106")
    other_school = SchoolFactory(name="锦江区实验小学", division_code="510104")
    school_user = make_user(school.unit, username="clerk")
    other_school_user = make_user(other_school.unit, username="clerk2")
    student = student_register(
        actor=school_user,
        data=registration(
            school,
            name="矩阵在籍生",
            born=date(2016, 8, 8),
            id_number=resident_id("440106", date(2016, 8, 8), "2", seq=88),
        ),
    ).student
    # One good row and one bad row: the job has an error report to read.
    bad = registration(school, name="矩阵错行", sex="9")
    upload = SimpleUploadedFile(
        "mine.csv", _csv_bytes([bad, registration(school, name="矩阵好行")]), "text/csv"
    )
    job = import_job_create(
        actor=school_user, upload=upload, file_name="mine.csv", mode="valid_rows"
    )
    import_job_run(job_id=job.pk)
    built = World(
        school=school,
        other_school=other_school,
        student=student,
        job_id=job.pk,
        actors={
            "anonymous": None,
            "clerk_in": school_user,
            "clerk_out": other_school_user,
            "reviewer_in": authority_user("440106"),
            "reviewer_out": authority_user("510104"),
        },
    )
    for module in POLICY_MODULES:
        if hasattr(module, "setup"):
            built.extra.update(module.setup(built))
    return built


@pytest.fixture(scope="module")
def module_world(django_db_setup, django_db_blocker):
    """The world, built once for this module inside a transaction rolled back at its end.

    Each test runs in its own savepoint inside that transaction (pytest-django's ``db``),
    rolled back after it: every test meets the world exactly as built, as if it had been
    built for it alone, without paying the build (a second or so) for each of ~300 routes.
    """
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        # As Django's TestCase marks its own blocks: a service's durable block may open in it.
        outer._from_testcase = True  # type: ignore[attr-defined]
        outer.__enter__()
        try:
            built = _build_world()
        except BaseException:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            raise
    yield built
    with django_db_blocker.unblock():
        transaction.set_rollback(True)
        outer.__exit__(None, None, None)


@pytest.fixture
def world(module_world, db) -> World:
    return module_world


def _permitted(policy: Policy, user) -> bool:
    if policy.access == SIGNED_IN:
        allowed = True
    else:
        wanted = (policy.access,) if isinstance(policy.access, str) else policy.access
        allowed = bool(set(wanted) & permissions_for(user.role_set))
    return allowed and (policy.levels is None or user.unit.kind in policy.levels)


def expected_status(policy: Policy, actor: str, user) -> int:
    """What the declared policy implies for one actor."""
    assert policy.sample is not None
    if policy.access == PUBLIC:
        return policy.sample.ok
    if user is None:
        return 401
    if not _permitted(policy, user):
        return 403
    in_scope = actor in ("clerk_in", "reviewer_in")
    scope = policy.sample.scope or policy.scope
    if scope in (OBJECT, TARGET) and not in_scope:
        return 404
    if scope == AREA and not in_scope:
        return 422
    if scope == UNIT and actor != "clerk_in":
        return 404
    return policy.sample.ok


def _client(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _send(client: Client, sample: Sample, world: World):
    path = sample.path.format(
        student=world.student.pk, school=world.school.pk, job=world.job_id, **world.extra
    )
    method = getattr(client, sample.method.lower())
    body = sample.body(world) if sample.body else None
    if sample.multipart:
        return method(path, body)
    if body is None:
        return method(path)
    return method(path, body, content_type="application/json")


def _secrets_hidden_from(actor: str, world: World) -> list[str]:
    """What this actor must never read: everything of school A for the out-of-scope
    actors, and school A's clerk's import job for every other unit."""
    hidden = []
    if actor in ("clerk_out", "reviewer_out"):
        hidden += [world.student.number, world.student.name, world.school.code]
    if actor not in ("clerk_in", "anonymous"):
        hidden.append(str(world.job_id))
    return hidden


SAMPLED = sorted(name for name, policy in POLICY.items() if policy.sample is not None)


def _actors_for(name: str) -> tuple[str, ...]:
    # Public pages are tried anonymously only: what a signed-in account sees there is not
    # an authorization question.
    if POLICY[name].access == PUBLIC and not _is_api(name):
        return ("anonymous",)
    return ACTORS


def _problems(name: str, actor: str, world: World) -> list[str]:
    policy = POLICY[name]
    assert policy.sample is not None
    user = world.actors[actor]
    response = _send(_client(user), policy.sample, world)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    problems = []
    if not _is_api(name) and user is None and policy.access != PUBLIC:
        # Pages send the anonymous visitor to the sign-in page instead of answering 401.
        if response.status_code != 302 or not response["Location"].startswith("/login/"):
            problems.append(f"{actor}: expected a redirect to sign-in, got {response.status_code}")
    else:
        wanted = expected_status(policy, actor, user)
        if response.status_code != wanted:
            problems.append(
                f"{actor}: expected {wanted}, got {response.status_code}: {body[:200]!r}"
            )
    # Binary downloads (xlsx) are compressed: this check reads only text bodies.
    text = body.decode("utf-8", errors="replace")
    problems += [
        f"{actor}: sees {secret!r}"
        for secret in _secrets_hidden_from(actor, world)
        if secret in text
    ]
    if actor not in policy.full_number:
        problems += [f"{actor}: sees a full number {n!r}" for n in _full_numbers(text)]
    return problems


# A full student number or an 18-character ID number standing alone (issue 10): outside a
# policy's ``full_number`` actors, no answer may hold one.
_FULL_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(?:[GJL][0-9]{17}[0-9X]|[0-9]{17}[0-9X])(?![0-9A-Za-z])"
)


def _full_numbers(text: str) -> list[str]:
    return sorted(set(_FULL_NUMBER.findall(text)))


@pytest.mark.parametrize("name", SAMPLED)
def test_route_answers_each_actor_as_its_policy_says(name, world):
    """Each route meets the world as built (the test's savepoint undoes the last route's
    writes); each actor's request runs in a savepoint rolled back after it, so a write by
    one actor never changes what the next one meets."""
    problems = []
    for actor in _actors_for(name):
        with transaction.atomic():
            problems += _problems(name, actor, world)
            transaction.set_rollback(True)
    assert not problems, f"{name}: " + "; ".join(problems)


def _dummy_path(route: str) -> str:
    """A concrete path for a route with converters (the value never reaches a lookup:
    sign-in is checked first)."""
    values = {"int": "1", "uuid": "00000000-0000-4000-8000-000000000000", "str": "x"}
    return "/" + re.sub(r"<(?:(\w+):)?\w+>", lambda m: values.get(m.group(1) or "str", "x"), route)


PAGES = sorted(name for name, policy in POLICY.items() if not _is_api(name))


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_visitor_is_sent_to_sign_in_on_every_non_public_page(name, db):
    """Also for pages without a sample: reached with any path values, by their own method."""
    policy = POLICY[name]
    response = getattr(Client(), policy.methods[0].lower())(_dummy_path(policy.path))
    if policy.access == PUBLIC:
        # A public route may be a "not found" by design (the API's catch-all 404).
        expected = policy.sample.ok if policy.sample else 200
        assert response.status_code < 400 or response.status_code == expected
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_api_rejects_anonymous_on_every_non_public_operation(db):
    """Every API operation, sampled or not, answers 401 without credentials."""
    for name, policy in POLICY.items():
        if not _is_api(name) or policy.access == PUBLIC:
            continue
        for method in policy.methods:
            response = getattr(Client(), method.lower())(
                _dummy_path(policy.path), {}, content_type="application/json"
            )
            assert response.status_code == 401, (name, method, response.status_code)


def test_policy_uses_known_vocabulary():
    for name, policy in POLICY.items():
        access = (policy.access,) if isinstance(policy.access, str) else policy.access
        for item in access:
            assert item in (PUBLIC, SIGNED_IN) or item in Permission.values, name
        assert policy.scope in (NONE, OBJECT, LIST, TARGET, AREA, UNIT, UNIT_LIST, ROWS), name


def test_matrix_actors_are_who_they_claim_to_be(world):
    """Guards the actors the matrix relies on: right units, right roles."""
    actors = world.actors
    assert actors["clerk_in"].unit.school_id == world.school.pk
    assert actors["clerk_out"].unit.school_id == world.other_school.pk
    assert actors["reviewer_in"].unit.area_prefix == "440106"
    assert actors["reviewer_out"].unit.area_prefix == "510104"
    assert {r for a in ACTORS[1:] for r in actors[a].role_set} == {"clerk", "reviewer"}
    # A second school in A's county stays out of the clerk's scope.
    neighbour = SchoolFactory(division_code="440106")
    clerk = make_user(neighbour.unit)
    assert _client(clerk).get(f"/api/students/{world.student.pk}").status_code == 404
