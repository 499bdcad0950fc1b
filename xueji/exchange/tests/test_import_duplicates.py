"""The bulk import's duplicate check is one-by-one registration's: inside the file and
against the registry, with typos, homophones, pinyin names, swapped day and month and a
guardian in common; never between two different valid resident ID numbers."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import registration, resident_id
from xueji.exchange.models import ImportStatus
from xueji.students.models import Student
from xueji.students.services import student_check_registration

from .test_import import errors_of, many_registrations, registry_counts, run_file, write_csv

pytestmark = pytest.mark.django_db

GUARDIAN = resident_id("440106", date(1985, 6, 1), "2")
NO_ID = {"id_type": "", "id_number": ""}


def originals(school) -> list[dict]:
    """Four children with resident IDs."""
    return [
        registration(school, name="张子轩", born=date(2017, 3, 8), sex_code="1"),
        registration(school, name="李明", born=date(2016, 5, 4), sex_code="2"),
        registration(
            school,
            name="王芳",
            born=date(2017, 11, 2),
            sex_code="2",
            guardian_id_number=GUARDIAN,
        ),
        registration(school, name="刘洋", born=date(2016, 9, 21), sex_code="1"),
    ]


def planted(school) -> list[tuple[str, dict]]:
    """Each original registered again, as it happens: (kind, row)."""
    return [
        # A mistyped character of the given name, no ID yet.
        ("typo", registration(school, name="张子杆", born=date(2017, 3, 8), sex_code="1", **NO_ID)),
        # A homophone, day and month swapped.
        (
            "swapped",
            registration(school, name="李鸣", born=date(2016, 4, 5), sex_code="2", **NO_ID),
        ),
        # Another birth date, a slightly different name, the same guardian's ID.
        (
            "guardian",
            registration(
                school,
                name="王方",
                born=date(2017, 11, 12),
                sex_code="2",
                guardian_id_number=GUARDIAN,
                **NO_ID,
            ),
        ),
        # The name in capital pinyin, as on a passport, under the passport.
        (
            "pinyin",
            registration(
                school,
                name="LIU YANG",
                born=date(2016, 9, 21),
                sex_code="1",
                id_type="5",
                id_number="E12345678",
            ),
        ),
    ]


def distinct(school) -> list[dict]:
    """Hard negatives with resident IDs: twins of the first original (same name pinyin,
    birth date, sex and guardian as each other) and a namesake born the same day."""
    return [
        registration(
            school, name="赵一鸣", born=date(2017, 3, 8), sex_code="1", guardian_id_number=GUARDIAN
        ),
        registration(
            school, name="赵一明", born=date(2017, 3, 8), sex_code="1", guardian_id_number=GUARDIAN
        ),
        registration(school, name="张子轩", born=date(2017, 3, 8), sex_code="1"),
    ]


def test_planted_pairs_inside_one_file_are_refused_naming_the_first_row(
    tmp_path, school, school_user
):
    first = originals(school)
    rows = first + distinct(school) + [row for _kind, row in planted(school)]
    path = write_csv(tmp_path / "students.csv", rows)
    before = registry_counts()

    job = run_file(school_user, path)

    found = {(row, column, code) for row, column, code, _m in errors_of(job)}
    # Rows 2–5 are the originals, 6–8 other children, 9–12 the second registrations.
    assert found == {(row, "姓名", "file.possible_duplicate") for row in (9, 10, 11, 12)}
    messages = {row: message for row, _c, _code, message in errors_of(job)}
    assert messages[9].startswith("疑似与本文件第 2 行是同一人：出生日期、性别相同")
    assert messages[10].startswith("疑似与本文件第 3 行是同一人：性别相同，出生日期日月颠倒")
    assert (
        messages[11].startswith("疑似与本文件第 4 行是同一人")
        and "监护人身份证件号相同" in messages[11]
    )
    assert messages[12].startswith("疑似与本文件第 5 行是同一人") and "姓名拼音相同" in messages[12]
    assert job.status == ImportStatus.REJECTED and job.created_count == 0
    assert registry_counts() == before

    loaded = run_file(school_user, path, mode="valid_rows")
    assert (loaded.created_count, loaded.error_count) == (7, 4)
    assert sorted(Student.objects.values_list("name", flat=True)) == sorted(
        r["name"] for r in first + distinct(school)
    )


def test_planted_pairs_across_files_are_refused_as_registration_refuses_them(
    tmp_path, school, school_user
):
    assert (
        run_file(school_user, write_csv(tmp_path / "first.csv", originals(school))).created_count
        == 4
    )
    known = {s.name: s for s in Student.objects.order_by("pk")}
    variants = planted(school)
    # One-by-one registration names the original of each second registration …
    partner = dict(zip(("张子轩", "李明", "王芳", "刘洋"), range(4), strict=True))
    for (kind, row), name in zip(variants, partner, strict=True):
        check = student_check_registration(actor=school_user, data=row)
        assert [c.student_id for c in check.candidates] == [known[name].pk], kind
    rows = [row for _kind, row in variants] + distinct(school)[:2]
    before = registry_counts()

    job = run_file(school_user, write_csv(tmp_path / "second.csv", rows), mode="valid_rows")

    # … and the import refuses exactly those rows, naming the same student.
    refused = errors_of(job)
    assert [(r, c, code) for r, c, code, _m in refused] == [
        (row, "姓名", "student.possible_duplicate") for row in (2, 3, 4, 5)
    ]
    for (_row, _c, _code, message), name in zip(refused, partner, strict=True):
        assert message.startswith(f"疑似重复学籍：与学籍号 {known[name].number_masked}（{name}，")
        assert known[name].number not in message
    assert job.created_count == 2
    assert registry_counts()["students"] == before["students"] + 2


def test_two_valid_resident_ids_are_never_refused_as_duplicates(tmp_path, school, school_user):
    """Same name, birth date, sex and guardian, two valid resident ID numbers: two people,
    inside one file and across files."""
    twins = [
        registration(
            school, name="陈晨", born=date(2017, 6, 6), sex_code="1", guardian_id_number=GUARDIAN
        )
        for _ in range(2)
    ]
    assert twins[0]["id_number"] != twins[1]["id_number"]
    job = run_file(school_user, write_csv(tmp_path / "twins.csv", twins))
    assert (job.created_count, job.error_count) == (2, 0), errors_of(job)
    third = registration(
        school, name="陈晨", born=date(2017, 6, 6), sex_code="1", guardian_id_number=GUARDIAN
    )
    again = run_file(school_user, write_csv(tmp_path / "third.csv", [third]))
    assert (again.created_count, again.error_count) == (1, 0), errors_of(again)
    # The same child again without an ID, under a homophone name, is a possible duplicate.
    homophone = {**third, **NO_ID, "name": "陈辰"}
    unknown = run_file(school_user, write_csv(tmp_path / "noid.csv", [homophone]))
    assert [code for _r, _c, code, _m in errors_of(unknown)] == ["student.possible_duplicate"]


def test_a_planted_pair_across_chunks_of_one_file_is_found(tmp_path, school, school_user):
    # The test settings use chunks of 500 rows.
    rows = many_registrations(school, 600)
    original = rows[0]
    rows.append({**original, **NO_ID})  # the first child again, without the ID
    path = write_csv(tmp_path / "students.csv", rows)

    job = run_file(school_user, path, mode="valid_rows")

    row, column, code, message = errors_of(job)[-1]
    assert (row, column, code) == (602, "姓名", "file.possible_duplicate")
    assert message.startswith("疑似与本文件第 2 行是同一人")
    assert job.created_count == 600


def test_a_look_alike_outside_the_clerks_scope_is_not_named(
    tmp_path, school, school_user, other_school, other_school_user
):
    """The original sits at a school of another province: the row is refused as a possible
    duplicate with the disclosure module's wording, without its number, name or school; the
    check is audited with the candidate's id."""
    from xueji.audit.models import AuditEvent
    from xueji.students import disclosure

    original = registration(other_school, name="张子轩", born=date(2017, 3, 8), sex_code="1")
    first = run_file(other_school_user, write_csv(tmp_path / "first.csv", [original]))
    assert first.created_count == 1
    known = Student.objects.get()
    look_alike = registration(school, name="张子杆", born=date(2017, 3, 8), sex_code="1", **NO_ID)

    job = run_file(school_user, write_csv(tmp_path / "second.csv", [look_alike]))

    [(row, column, code, message)] = errors_of(job)
    assert (row, column, code) == (2, "姓名", "student.possible_duplicate")
    assert message == f"疑似重复学籍：{disclosure.OUTSIDE_CANDIDATES}确认不是同一人的，请逐个注册"
    for secret in (known.number_masked, known.name, other_school.name):
        assert secret not in message
    audit = AuditEvent.objects.get(action="student.duplicate_outside")
    assert audit.detail == {"step": "import", "exact_ids": [], "candidate_ids": [known.pk]}


def _named(job, known: dict[str, Student]) -> dict[int, int]:
    """Row → the registered student its possible-duplicate refusal names."""
    by_number = {s.number_masked: s.pk for s in known.values()}
    named = {}
    for row, _column, code, message in errors_of(job):
        assert code == "student.possible_duplicate", (row, code, message)
        number = message.split("学籍号 ", 1)[1].split("（", 1)[0]
        named[row] = by_number[number]
    return named


def test_import_and_registration_name_the_same_students_across_chunks(
    tmp_path, school, school_user
):
    """A planted set — a typo, a homophone, day and month swapped, a birth date a day off
    across a year end (with a guardian in common) and across a month end (without), a
    child of another name in a planted block, a namesake with a valid resident ID of its
    own — checked by one-by-one registration and by an import whose second chunk (the
    test settings use 500 rows) reuses registry blocks its first chunk read: both name
    the same students."""
    # given
    guardian = resident_id("440106", date(1984, 2, 3), "1")
    originals = {
        "张子轩": registration(school, name="张子轩", born=date(2017, 3, 8), sex_code="1"),
        "李明": registration(school, name="李明", born=date(2016, 5, 4), sex_code="2"),
        "陈思涵": registration(school, name="陈思涵", born=date(2017, 3, 8), sex_code="1"),
        "周雨桐": registration(
            school,
            name="周雨桐",
            born=date(2016, 12, 31),
            sex_code="2",
            guardian_id_number=guardian,
        ),
        "林晓": registration(school, name="林晓", born=date(2016, 8, 31), sex_code="2"),
    }
    loaded = run_file(school_user, write_csv(tmp_path / "first.csv", list(originals.values())))
    assert loaded.created_count == 5
    known = {s.name: s for s in Student.objects.order_by("pk")}
    first_chunk = [
        # row 2: a mistyped character of the given name (name score 85), no ID
        (
            "张子轩",
            registration(school, name="张子杆", born=date(2017, 3, 8), sex_code="1", **NO_ID),
        ),
        # row 3: a homophone with day and month swapped
        ("李明", registration(school, name="李鸣", born=date(2016, 4, 5), sex_code="2", **NO_ID)),
    ]
    second_chunk = [
        # row 604: a homophone in the block row 2 read in the first chunk
        (
            "陈思涵",
            registration(school, name="陈思函", born=date(2017, 3, 8), sex_code="1", **NO_ID),
        ),
        # row 605: a day off across the year end, a less similar name (80), one guardian
        (
            "周雨桐",
            registration(
                school,
                name="周雨形",
                born=date(2017, 1, 1),
                sex_code="2",
                guardian_id_number=guardian,
                **NO_ID,
            ),
        ),
        # row 606: a day off across a month end, no guardian in common: the rule asks for
        # the same date or its swap (the nightly linkage weighs near dates)
        (None, registration(school, name="林小", born=date(2016, 9, 1), sex_code="2", **NO_ID)),
        # row 607: another name in row 3's registry block
        (None, registration(school, name="黄志强", born=date(2016, 5, 4), sex_code="2")),
        # row 608: a namesake with a valid resident ID of its own: another person
        (None, registration(school, name="周雨桐", born=date(2016, 12, 31), sex_code="2")),
    ]
    planted = first_chunk + second_chunk
    rows = [row for _o, row in first_chunk] + many_registrations(school, 600)
    rows += [row for _o, row in second_chunk]
    registration_named = {}
    for number, (_original, row) in zip((2, 3, 604, 605, 606, 607, 608), planted, strict=True):
        candidates = student_check_registration(actor=school_user, data=row).candidates
        if candidates:
            registration_named[number] = candidates[0].student_id

    # when
    job = run_file(school_user, write_csv(tmp_path / "second.csv", rows), mode="valid_rows")

    # then
    expected = {
        2: known["张子轩"].pk,
        3: known["李明"].pk,
        604: known["陈思涵"].pk,
        605: known["周雨桐"].pk,
    }
    assert registration_named == expected
    assert _named(job, known) == expected
    assert job.created_count == 603


def test_an_import_reads_each_registry_block_once(tmp_path, school, school_user):
    """Chunks of one import share the registry blocks read: a chunk reads only the
    (birth date, sex) blocks no earlier chunk read (it read every block of its rows
    before, which against a registry of a million was the registry once per chunk)."""
    # given: 1,100 boys born on 2016-09-01, -02 and -03 (400 a day), in chunks of 500:
    # the first chunk touches the first two days, the second the last two, the third one
    run_file(school_user, write_csv(tmp_path / "first.csv", many_registrations(school, 3)))
    rows = many_registrations(school, 1100)[3:]
    path = write_csv(tmp_path / "second.csv", rows)

    # when
    with CaptureQueriesContext(connection) as queries:
        job = run_file(school_user, path, mode="valid_rows")

    # then: the second chunk reads the third day's blocks, the third chunk none
    reads = [q["sql"] for q in queries.captured_queries if "WITH b (birth_date, sex)" in q["sql"]]
    assert len(reads) == 2
    assert (job.created_count, job.error_count) == (1097, 0), errors_of(job)
