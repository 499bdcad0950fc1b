"""The suite's guards against order-dependent tests (see README, "make test")."""

import os
import re
import subprocess
from pathlib import Path

import pytest
from django.db import connection


@pytest.mark.django_db
def test_unordered_selects_come_back_reversed_on_sqlite():
    """conftest.py turns SQLite's reverse_unordered_selects on for every test connection, so a
    comparison that leans on the order of a query without ORDER BY fails on every run."""
    if connection.vendor != "sqlite":
        pytest.skip("a SQLite pragma; PostgreSQL promises no order at all")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA reverse_unordered_selects")
        (value,) = cursor.fetchone()
    assert value == 1


def test_make_test_runs_the_suite_in_random_order():
    """make test loads pytest-randomly on both databases: each run shuffles the tests and
    prints its seed; SEED=N repeats an order."""
    root = Path(__file__).resolve().parent.parent
    for target, seed in (("pytest", ""), ("pytest-pg", ""), ("pytest", "SEED=1234")):
        env = {**os.environ, "XUEJI_TEST_DATABASE_URL": "postgresql://x@127.0.0.1/x"}
        shown = subprocess.run(
            ["make", "-n", "--no-print-directory", target, *([seed] if seed else [])],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        pytest_lines = [line for line in shown.splitlines() if "bin/pytest" in line]
        assert pytest_lines, shown
        assert all("-p randomly" in line for line in pytest_lines), shown
        # The seed is chosen by make and printed, so a failing order can be repeated.
        assert all(re.search(r"--randomly-seed=\d+", line) for line in pytest_lines), shown
        assert re.search(r"SEED=\d+ repeats it", shown), shown
        if seed:
            assert all("--randomly-seed=1234" in line for line in pytest_lines), shown


def test_one_playwright_for_the_whole_session():
    """Only the root conftest starts Playwright: a second sync instance in the same thread
    fails ("Sync API inside the asyncio loop") whenever random order runs it while the
    session's browser is open."""
    root = Path(__file__).resolve().parent.parent
    starters = sorted(
        str(path.relative_to(root))
        for folder in ("xueji", "tests", "bench")
        for path in (root / folder).rglob("*.py")
        if path != Path(__file__).resolve()
        and "sync_playwright()" in path.read_text(encoding="utf-8")
    )
    assert starters == [], starters
    assert "sync_playwright()" in (root / "conftest.py").read_text(encoding="utf-8")
