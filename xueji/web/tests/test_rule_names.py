"""No raw code on a page: every code that can reach a page or a downloaded report is shown
by its name in words, Chinese or English by the locale (issue 11 #7: `[required]`,
`[id.checksum]`, `[forbidden]`, `bad_second_factor` and `change.step_overdue` were shown as
they are stored).

The codes are found by walking the source (calls that make a refusal, an import error, a
warning; the enums of sign-in outcomes and ID checks), so a new code without a name fails
here, not in front of a user."""

import ast
import csv
import importlib
import io
import re
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template import Context, Template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from tests.factories import registration
from xueji import rule_names
from xueji.accounts.authentication import Reason
from xueji.accounts.twofactor import BAD_SECOND_FACTOR
from xueji.exchange.columns import STUDENT_COLUMNS
from xueji.exchange.models import ImportJob, ImportMode
from xueji.students.rules import IdCode

SOURCE = Path(settings.BASE_DIR) / "xueji"
CODE = re.compile(r"^[a-z_]+(\.[a-z_]+)*$")
CJK = re.compile(r"[\u4e00-\u9fff]")

# The modules an import runs through, and which argument of which call carries a code.
IMPORT_MODULES = (
    "students/validation.py",
    "students/nonbasic.py",
    "schools/validation.py",
    "exchange/readers.py",
    "exchange/student_import.py",
    "exchange/school_import.py",
    "exchange/services.py",
)
CODE_ARGUMENT = {"FieldError": 1, "ImportFileError": 0, "RowError": 3, "_fail": 3, "_error": 3}


def _calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            yield name, node


def _code_of(name: str, node: ast.Call) -> str | None:
    index = CODE_ARGUMENT.get(name)
    if index is None:
        return None
    value = node.args[index] if len(node.args) > index else None
    if value is None:
        value = next((k.value for k in node.keywords if k.arg == "code"), None)
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return value.value if CODE.match(value.value) else None
    return None


def import_codes() -> set[str]:
    codes = {code.value for code in IdCode if code != IdCode.OK}
    for module in IMPORT_MODULES:
        for name, node in _calls(SOURCE / module):
            code = _code_of(name, node)
            if code is not None:
                codes.add(code)
    return codes


def every_refusal_code() -> set[str]:
    """Every code a refusal is made with, anywhere (field errors, conflicts)."""
    codes = {"not_found", "forbidden", "validation_failed"}
    for path in SOURCE.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for name, node in _calls(path):
            code = _code_of(name, node)
            if name in ("Conflict", "DomainError") and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    code = first.value
            if code:
                codes.add(code)
    return codes


def warning_kinds() -> set[str]:
    """The ``kind`` of every ``warning_raise`` call, resolved in its module."""
    kinds = set()
    for path in SOURCE.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for name, node in _calls(path):
            if name != "warning_raise":
                continue
            kind = next((k.value for k in node.keywords if k.arg == "kind"), None)
            if kind is None:
                continue
            module = importlib.import_module(
                ".".join(path.relative_to(SOURCE.parent).with_suffix("").parts)
            )
            try:
                kinds.add(eval(compile(ast.Expression(kind), str(path), "eval"), vars(module)))  # noqa: S307
            except NameError:
                # A kind built at run time (security.<rule>): the module lists what it raises.
                kinds |= set(module.RAISED_KINDS)
    return kinds


def sign_in_outcomes() -> set[str]:
    return {reason.value for reason in Reason} | {BAD_SECOND_FACTOR}


CATALOGUES = [
    ("import", import_codes, rule_names.IMPORT_RULES),
    ("warning", warning_kinds, rule_names.WARNING_KINDS),
    ("sign-in", sign_in_outcomes, rule_names.SIGN_IN_OUTCOMES),
]


@pytest.mark.parametrize(("what", "found", "catalogue"), CATALOGUES, ids=[c[0] for c in CATALOGUES])
def test_every_code_has_a_name_in_both_languages(what, found, catalogue):
    codes = found()
    assert codes, what
    assert sorted(codes - set(catalogue)) == [], f"{what} codes without a name"
    for code in codes:
        with translation.override("zh-hans"):
            chinese = str(catalogue[code])
        with translation.override("en"):
            english = str(catalogue[code])
        assert CJK.search(chinese), (code, chinese)
        assert english != chinese and not CJK.search(english), (code, english)
        assert code not in (chinese, english)


def test_the_known_raw_codes_are_among_those_walked():
    assert {"required", "id.checksum"} <= import_codes()
    assert "change.step_overdue" in warning_kinds()
    assert "bad_second_factor" in sign_in_outcomes()
    assert {"forbidden", "change.senior_only"} <= every_refusal_code()


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_a_refusal_page_never_shows_its_code(language):
    """The error fragment (htmx) and page, rendered for every refusal code: the message is
    shown, the code only as a data attribute for machines."""
    codes = every_refusal_code()
    assert len(codes) > 100
    with translation.override(language):
        for code in sorted(codes):
            for template in ("web/_error_alert.html", "web/error.html"):
                html = render_to_string(template, {"error_message": "消息", "error_code": code})
                visible = re.sub(r"<[^>]*>", " ", html)
                assert code not in visible.split(), (template, code)
                assert f"[{code}]" not in visible


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_filters_name_every_code(language):
    template = Template(
        "{% load rule_names %}{{ c|import_rule }}|{{ c|warning_kind }}|{{ c|sign_in_outcome }}"
    )
    with translation.override(language):
        for code in import_codes() | warning_kinds() | sign_in_outcomes():
            shown = template.render(Context({"c": code}))
            assert code not in shown.split("|"), code


# ----------------------------------------------------------------- on the pages themselves


def _student_csv(rows: list[dict]) -> SimpleUploadedFile:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.header for c in STUDENT_COLUMNS])
    for row in rows:
        writer.writerow([row.get(c.key, "") for c in STUDENT_COLUMNS])
    return SimpleUploadedFile("新生.csv", out.getvalue().encode("utf-8"), content_type="text/csv")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "names"),
    [
        ("zh-CN", ("证件号校验位", "必填项为空")),
        ("en", ("ID number check digit", "Required field empty")),
    ],
)
def test_the_import_page_and_report_name_the_rules(client, school_user, school, language, names):
    client.force_login(school_user)
    bad = registration(school, born=date(2016, 4, 1), id_number="440106201604010000")
    empty = registration(school, born=date(2016, 4, 2), entry_date="")
    response = client.post(
        reverse("imports:new"),
        {"file": _student_csv([bad, empty]), "mode": ImportMode.ALL_OR_NOTHING},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    job = ImportJob.objects.get()
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE=language).content.decode()
    report = client.get(
        reverse("imports:errors_csv", args=[job.pk]), HTTP_ACCEPT_LANGUAGE=language
    ).content.decode("utf-8-sig")
    for shown in (page, report):
        assert "[id.checksum]" not in shown and "id.checksum," not in shown
        assert "[required]" not in shown and ",required," not in shown
        for name in names:
            assert name in shown, name


@pytest.mark.django_db
def test_the_security_page_names_sign_in_outcomes(client, school_user):
    from tests.factories import authority_user
    from xueji.accounts.lockout import login_attempt_record
    from xueji.accounts.models import Role

    security = authority_user("440106", roles=(Role.SECURITY_ADMIN,))
    login_attempt_record(username=school_user.username, user=school_user, reason=BAD_SECOND_FACTOR)
    client.force_login(security)
    html = client.get("/accounts/security/").content.decode()
    assert 'data-reason="bad_second_factor"' in html
    assert "bad_second_factor" not in re.sub(r'data-reason="[^"]*"', "", html)
    assert "动态验证码错误" in html
