"""A small registry for linkage tests: distinct people, and duplicates planted among them.

Each planted duplicate is one of the kinds seen in practice (a mistyped character, a
homophone, day and month swapped, a second ID document, a temporary number next to a
formal one) and, as the registry requires, never carries the first record's ID.
"""

import random
from datetime import date, timedelta

from xueji.anomalies.extract import RegistryRow
from xueji.students.identity import blind_index

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩邓冯曹彭曾肖田董潘袁蔡蒋余"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超霞平刚桂文华建国红梅志浩然子轩梓涵一诺欣怡雨桐"
COUNTIES = ("440106", "440104", "440305", "510104", "510107", "330106")


def _id_key(number: str, id_type: str = "1") -> str:
    return blind_index(id_type, number)


def clean_rows(count: int = 300, *, seed: int = 5, first_id: int = 1) -> list[RegistryRow]:
    """``count`` different people: no two share a birth date and a surname."""
    rng = random.Random(seed)
    rows: list[RegistryRow] = []
    seen: set[tuple[date, str]] = set()
    while len(rows) < count:
        surname = rng.choice(SURNAMES)
        born = date(2008, 9, 1) + timedelta(days=rng.randrange(12 * 365))
        if (born, surname) in seen:
            continue
        seen.add((born, surname))
        county = rng.choice(COUNTIES)
        given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2, 2))))
        student_id = first_id + len(rows)
        rows.append(
            RegistryRow(
                student_id=student_id,
                name=surname + given,
                sex=rng.choice("12"),
                birth_date=born,
                birthplace_code=county,
                id_type="1",
                id_key=_id_key(f"{county}{born:%Y%m%d}{student_id:04d}"),
                number_kind="G",
                area_code=county,
                province_code=county[:2],
                # Father and mother; one record in five lists the father only.
                guardian_keys=(
                    _id_key(f"father-{seed}-{student_id}"),
                    *((_id_key(f"mother-{seed}-{student_id}"),) if student_id % 5 else ()),
                ),
                # Confirmed present at their school; one in ten not marked.
                attendance="present" if student_id % 10 else None,
                school_id=COUNTIES.index(county) + 1,
            )
        )
    return rows


def plant_duplicates(rows: list[RegistryRow]) -> tuple[list[RegistryRow], set[tuple[int, int]]]:
    """A second record for some of ``rows``, three of each kind; returns the new rows and
    the planted pairs (smaller id first). The first record of one pair of each kind is
    marked absent in ``rows`` (its school's confirmation), the second present."""
    next_id = max(row.student_id for row in rows) + 1
    added: list[RegistryRow] = []
    pairs: set[tuple[int, int]] = set()
    by_kind: dict[str, list[RegistryRow]] = {
        kind: [] for kind in ("typo", "homophone", "swapped", "two_ids", "temporary")
    }
    homophones = {
        "伟": "玮",
        "杰": "洁",
        "轩": "宣",
        "涵": "寒",
        "怡": "仪",
        "明": "鸣",
        "张": "章",
    }
    for row in rows:
        given = row.name[1:]
        if len(by_kind["homophone"]) < 3 and any(ch in homophones for ch in row.name):
            by_kind["homophone"].append(row)
        elif (
            len(by_kind["swapped"]) < 3
            and row.birth_date.day <= 12
            and row.birth_date.day != row.birth_date.month
        ):
            by_kind["swapped"].append(row)
        elif len(by_kind["typo"]) < 3 and len(given) == 2:
            by_kind["typo"].append(row)
        elif len(by_kind["two_ids"]) < 3:
            by_kind["two_ids"].append(row)
        elif len(by_kind["temporary"]) < 3:
            by_kind["temporary"].append(row)
    for kind, originals in by_kind.items():
        for index, original in enumerate(originals):
            name, born = original.name, original.birth_date
            id_type, id_key, number_kind = "", None, "L"
            if kind == "typo":
                replacement = "栋" if name[-1] != "栋" else "梁"
                name = name[:-1] + replacement
            elif kind == "homophone":
                position = next(i for i, ch in enumerate(name) if ch in homophones)
                name = name[:position] + homophones[name[position]] + name[position + 1 :]
            elif kind == "swapped":
                born = date(born.year, born.day, born.month)
            elif kind == "two_ids":
                id_type, number_kind = "5", "J"
                id_key = _id_key(f"E{next_id:08d}", "5")
            added.append(
                original._replace(
                    student_id=next_id,
                    name=name,
                    birth_date=born,
                    id_type=id_type,
                    id_key=id_key,
                    number_kind=number_kind,
                    # Registered again at another school of the same province, by the
                    # mother (when the first record lists her) or by the father.
                    area_code=original.area_code[:4] + "99",
                    school_id=99,
                    guardian_keys=original.guardian_keys[-1:],
                )
            )
            if index == 0:
                # The first school marks its record absent: the child is at the other.
                added[-1] = added[-1]._replace(attendance="present")
                rows[rows.index(original)] = original._replace(attendance="absent")
            pairs.add((original.student_id, next_id))
            next_id += 1
    return added, pairs
