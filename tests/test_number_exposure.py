"""No page shows a full ID number or a full student number where the task does not need it.

The demo registry (students, transfers waiting at a county, duplicate findings, a campaign)
is crawled as every demo account through the pages a user can reach by following links from
the home page. The only full numbers allowed are a student's number on the student's own
detail and on an open transfer's page, for the accounts ``may_see_full_number`` names (the
clerk of the student's current school, the party whose transfer step is pending). ID
numbers never appear in full on a page: they are revealed with a reason, one at a time.
"""

import re
from collections import Counter, deque
from datetime import datetime

import pytest
from django.test import Client

from xueji.accounts import twofactor
from xueji.accounts.models import User
from xueji.changes.models import ChangeRequest
from xueji.exchange.demo_accounts import DEMO_PASSWORD, DEMO_TOTP_SECRETS, ensure_demo_accounts
from xueji.exchange.demo_activity import ensure_demo_activity
from xueji.exchange.synthetic import DemoPlan, generate
from xueji.students.identity import read_id, read_number
from xueji.students.models import Student
from xueji.students.permissions import may_see_full_number

pytestmark = pytest.mark.django_db

PAGES_PER_ACCOUNT = 30
SAME_SHAPE = 2  # pages of one shape (e.g. /students/N/) visited per account
NOT_FOLLOWED = re.compile(r"logout|export|download|reveal|print|/api/|/static/|/media/")
NUMBER_SHAPED = re.compile(r"(?<![0-9A-Za-z])[GJL]?\d{17}[\dXx](?![0-9A-Za-z])")
DETAIL = re.compile(r"^/students/(\d+)/$")
CHANGE = re.compile(r"^/changes/(\d+)/$")


@pytest.fixture
def demo(monkeypatch):
    monkeypatch.setattr(
        "xueji.clock.now", lambda: datetime.fromisoformat("2026-11-10T10:00:00+08:00")
    )
    monkeypatch.setattr("xueji.clock.today", lambda: datetime(2026, 11, 10).date())
    generate(plan=DemoPlan(students=300, schools=8))
    accounts = [account.username for account in ensure_demo_accounts()]
    assert ensure_demo_activity()
    return accounts


def _sign_in(client: Client, username: str) -> None:
    response = client.post("/login/", {"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302, f"{username} could not sign in"
    if username in DEMO_TOTP_SECRETS:
        secret = DEMO_TOTP_SECRETS[username]
        from xueji import clock

        code = twofactor.totp_code_at(secret, twofactor.totp_step(clock.now().timestamp()))
        response = client.post("/accounts/second-factor/", {"code": code})
        assert response.status_code == 302, f"{username}: second factor refused"


def _crawl(client: Client) -> tuple[dict[str, str], Counter]:
    """The html of the pages reachable from the home page, breadth first, a few per shape."""
    pages: dict[str, str] = {}
    shapes: Counter = Counter()
    statuses: Counter = Counter()
    queue = deque(["/"])
    while queue and len(pages) < PAGES_PER_ACCOUNT:
        url = queue.popleft()
        shape = re.sub(r"\d+", "N", url.split("?")[0])
        if url in pages or shapes[shape] >= SAME_SHAPE:
            continue
        shapes[shape] += 1
        response = client.get(url)
        statuses[response.status_code] += 1
        if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
            pages[url] = ""
            continue
        html = response.content.decode()
        pages[url] = html
        for href in re.findall(r'href="(/[^"#]*)"', html):
            href = href.replace("&amp;", "&")
            if href not in pages and not NOT_FOLLOWED.search(href):
                queue.append(href)
    return pages, statuses


def _allowed(user: User, url: str, student: Student, shown: str) -> bool:
    if shown != read_number(student):
        return False  # an ID number in full: never on a page
    path = url.split("?")[0]
    detail = DETAIL.match(path)
    if detail and int(detail.group(1)) == student.pk:
        return may_see_full_number(user, student)
    change = CHANGE.match(path)
    if change:
        request = ChangeRequest.objects.filter(pk=int(change.group(1))).first()
        return (
            request is not None
            and request.student_id == student.pk
            and may_see_full_number(user, student)
        )
    return False


def test_no_page_shows_a_full_number_outside_the_allowed_cases(demo):
    # given every ID number and full student number of the demo registry
    owners: dict[str, Student] = {}
    for student in Student.objects.order_by("pk"):
        owners[read_id(student)] = student
        owners[read_number(student)] = student
    owners.pop("", None)
    assert len(owners) > 300

    seen_full = 0
    for username in sorted(demo):
        user = User.objects.get(username=username)
        client = Client()
        _sign_in(client, username)

        # when the account follows the links it is offered
        pages, statuses = _crawl(client)

        # then it reached real pages, none failed, and no number is shown beyond the rule
        assert len(pages) >= 5, f"{username} reached only {sorted(pages)}"
        assert statuses[500] == 0, f"{username}: server errors on {statuses}"
        for url, html in sorted(pages.items()):
            for shown in NUMBER_SHAPED.findall(html):
                holder = owners.get(shown.upper())
                if holder is None:
                    continue
                assert _allowed(user, url, holder, shown.upper()), (
                    f"{username} sees {shown[:4]}…{shown[-4:]} in full on {url}"
                )
                seen_full += 1
    # The clerk's own students show their number on their detail: the crawl got that far.
    assert seen_full > 0
