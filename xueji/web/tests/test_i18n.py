"""The English locale: pages and API answers follow the request's language, and the shipped
catalogue (locale/en/LC_MESSAGES) is complete and compiled."""

import ast
import gettext
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

pytestmark = pytest.mark.django_db

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "en" / "LC_MESSAGES"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}


@pytest.fixture(autouse=True)
def _keep_language():
    """LocaleMiddleware activates the request's language for the thread: restore it, so an
    English request here does not turn later tests English."""
    with translation.override(translation.get_language()):
        yield


# ---------------------------------------------------------------- pages


def test_sign_in_page_in_english(client):
    html = client.get(reverse("web:login"), **EN).content.decode()
    assert '<html lang="en">' in html
    assert "Sign in to the Student Status System" in html
    assert "登录学籍管理系统" not in html


def test_sign_in_page_in_chinese(client):
    html = client.get(reverse("web:login"), **ZH).content.decode()
    assert '<html lang="zh-CN">' in html
    assert "登录学籍管理系统" in html
    assert "Sign in to the Student Status System" not in html


def test_chinese_is_the_default_without_a_preference(client):
    html = client.get(reverse("web:login")).content.decode()
    assert "登录学籍管理系统" in html


def test_student_list_in_english(client, school_user, make_student):
    make_student(name="王小明", grade="11")
    client.force_login(school_user)
    html = client.get(reverse("students:list"), **EN).content.decode()
    assert "Student list" in html
    assert "Student number" in html
    assert "Grade 1" in html  # the grade names (schools.rules.GRADES) are lazy
    assert "王小明" in html  # data stays as it is
    assert "学生名单" not in html


def test_student_list_in_chinese(client, school_user, make_student):
    make_student(name="王小明", grade="11")
    client.force_login(school_user)
    html = client.get(reverse("students:list"), **ZH).content.decode()
    assert "学生名单" in html
    assert "一年级" in html
    assert "Student list" not in html


def test_language_switch_sets_the_cookie_and_returns_to_the_page(client):
    """The form in the page footer posts to Django's set_language."""
    html = client.get(reverse("web:login")).content.decode()
    assert f'action="{reverse("set_language")}"' in html
    response = client.post(
        reverse("set_language"), {"language": "en"}, HTTP_REFERER="http://testserver/login/"
    )
    assert response.status_code == 302
    assert response["Location"] == "http://testserver/login/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    assert "Sign in to the Student Status System" in client.get("/login/").content.decode()


# ---------------------------------------------------------------- API


def test_api_not_found_message_in_english(client, school_user):
    client.force_login(school_user)
    response = client.get("/api/students/999999999", **EN)
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert body["message"] == "The record was not found, or it is outside your scope."


def test_api_not_found_message_by_language_cookie(client, school_user):
    client.force_login(school_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    body = client.get("/api/students/999999999").json()
    assert body["message"] == "The record was not found, or it is outside your scope."


def test_api_not_found_message_in_chinese(client, school_user):
    client.force_login(school_user)
    body = client.get("/api/students/999999999", **ZH).json()
    assert body["code"] == "not_found"
    assert body["message"] == "未找到该记录，或不在您的管理范围内。"


def test_openapi_document_follows_the_language(client, school_user):
    client.force_login(school_user)
    english = client.get("/api/openapi.json", **EN).json()
    chinese = client.get("/api/openapi.json", **ZH).json()
    assert english["info"]["title"] == "xueji student status API"
    assert chinese["info"]["title"] == "xueji 学籍管理 API"
    assert english["paths"]["/api/me"]["get"]["tags"] == ["Accounts"]


# ---------------------------------------------------------------- the catalogue

_PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[-+ #0]*\d*(?:\.\d+)?[sdfr%]|\{\{.*?\}\}")


def _po_entries(path: Path) -> list[dict]:
    """A minimal .po reader: flags, msgctxt, msgid, msgid_plural and the msgstr(s)."""
    entries: list[dict] = []
    entry: dict = {}
    key = ""
    for line in [*path.read_text(encoding="utf-8").splitlines(), ""]:
        line = line.strip()
        if not line:
            if "msgid" in entry:
                entries.append(entry)
            entry, key = {}, ""
        elif line.startswith("#,"):
            entry.setdefault("flags", set()).update(f.strip() for f in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, _, value = line.partition(" ")
            entry[key] = ast.literal_eval(value)
    return entries


def _translations(entry: dict) -> list[str]:
    return [value for key, value in entry.items() if key.startswith("msgstr")]


def test_catalogue_is_complete_and_not_fuzzy():
    entries = _po_entries(LOCALE_DIR / "django.po")
    header, messages = entries[0], entries[1:]
    assert header["msgid"] == "" and "Language: en" in header["msgstr"]
    assert len(messages) > 500
    untranslated = [e["msgid"] for e in messages if not all(_translations(e))]
    fuzzy = [e["msgid"] for e in entries if "fuzzy" in e.get("flags", ())]
    assert not untranslated, untranslated
    assert not fuzzy, fuzzy


def test_catalogue_keeps_every_placeholder():
    wrong = []
    for entry in _po_entries(LOCALE_DIR / "django.po")[1:]:
        wanted = sorted(_PLACEHOLDER.findall(entry["msgid"]))
        for text in _translations(entry):
            if sorted(_PLACEHOLDER.findall(text)) != wanted:
                wrong.append((entry["msgid"], text))
    assert not wrong, wrong


def test_compiled_catalogue_matches_the_po_file():
    """CI has no gettext: the .mo is committed, and must be compiled from the current .po."""
    with (LOCALE_DIR / "django.mo").open("rb") as handle:
        catalog = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    stale = []
    for entry in _po_entries(LOCALE_DIR / "django.po")[1:]:
        msgid = entry["msgid"]
        if "msgctxt" in entry:
            msgid = f"{entry['msgctxt']}\x04{msgid}"
        if "msgid_plural" in entry:
            found = [catalog.get((msgid, i)) for i in range(2)]
            wanted = [entry["msgstr[0]"], entry["msgstr[1]"]]
        else:
            found, wanted = [catalog.get(msgid)], [entry["msgstr"]]
        if found != wanted:
            stale.append(entry["msgid"])
    assert not stale, f"run: python manage.py compilemessages -l en --ignore=.venv ({stale[:5]})"
