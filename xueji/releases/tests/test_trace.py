"""release_trace names the release a leaked copy came from: a full copy, and a partial copy
of 100 rows without its mark or header, by pseudonym tags and by keyed row order."""

import csv
import io
import random
from io import StringIO

import pytest
from django.core.management import call_command

from tests import factories
from xueji.accounts.models import Role

from .conftest import law_request, populate, through_pipeline


@pytest.fixture
def population(school):
    # 300 students in 12 groups of 25 over (sex, birth year, grade)
    people = [
        (sex, year, grade)
        for sex in ("1", "2")
        for year, grade in ((2016, "13"), (2015, "14"), (2014, "15"))
        for _ in range(25)
    ]
    people += [(sex, 2013, "16") for sex in ("1", "2") for _ in range(25)]
    people += [(sex, 2017, "12") for sex in ("1", "2") for _ in range(25)]
    populate(school, people)
    return len(people)


@pytest.fixture
def two_recipients(staff):
    """The same release asked for two recipients: only the fingerprint tells them apart."""
    other = factories.authority_user("510104", roles=(Role.STATISTICIAN,))
    return staff, {**staff, "recipient": other}


def _stored(release) -> bytes:
    with release.file.open("rb") as handle:
        return handle.read()


def _trace(tmp_path, name: str, content: bytes) -> tuple[int, str]:
    path = tmp_path / name
    path.write_bytes(content)
    out, err = StringIO(), StringIO()
    try:
        call_command("release_trace", str(path), stdout=out, stderr=err)
    except SystemExit as exit:
        return int(exit.code or 0), out.getvalue() + err.getvalue()
    return 0, out.getvalue()


def _data_rows(content: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    return [r for r in rows[2:] if r and not r[0].startswith("#")]


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


def test_full_copy_is_traced_to_its_release(tmp_path, population, two_recipients):
    first, second = (through_pipeline(s) for s in two_recipients)
    code, output = _trace(tmp_path, "leak.csv", _stored(first))
    assert code == 0
    assert f"来源：数据发布 {first.reference}" in output
    assert second.reference not in output
    assert f"{population} / {population} 行的编号" in output
    assert "文件中的可见标记：" + first.reference in output


def test_partial_copy_of_100_shuffled_rows_without_mark_is_traced(
    tmp_path, population, two_recipients
):
    first, second = (through_pipeline(s) for s in two_recipients)
    rows = _data_rows(_stored(second))
    leaked = random.Random(7).sample(rows, 100)
    code, output = _trace(tmp_path, "part.csv", _csv(leaked))
    assert code == 0
    assert f"来源：数据发布 {second.reference}" in output
    assert first.reference not in output
    assert "100 / 100 行的编号" in output
    assert "没有可见标记" in output


def test_partial_copy_without_pseudonyms_is_traced_by_row_order(
    tmp_path, population, two_recipients
):
    # given: identifiers dropped, so the rows themselves repeat (groups of 25)
    first, second = (
        through_pipeline(s, law_request(s, identifiers="drop")) for s in two_recipients
    )
    rows = _data_rows(_stored(first))
    assert len(rows) == population
    # when: 100 consecutive rows from the middle, no mark, no header
    code, output = _trace(tmp_path, "rows.csv", _csv(rows[120:220]))
    # then
    assert code == 0
    assert f"来源：数据发布 {first.reference}" in output
    assert second.reference not in output
    assert "第 121 行起" in output


def test_xlsx_copy_is_traced(tmp_path, population, staff):
    release = through_pipeline(staff, law_request(staff, output_format="xlsx"))
    code, output = _trace(tmp_path, "leak.xlsx", _stored(release))
    assert code == 0
    assert f"来源：数据发布 {release.reference}" in output


def test_a_copy_of_no_release_is_not_traced(tmp_path, population, staff):
    through_pipeline(staff)
    made_up = [[f"P{random.Random(i).getrandbits(56):014x}", "1", "2016", "13"] for i in range(100)]
    code, output = _trace(tmp_path, "other.csv", _csv(made_up))
    assert code == 1
    assert "未能确定来源" in output
