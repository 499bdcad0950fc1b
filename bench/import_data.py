"""New students for the import benchmark: people the registry does not know yet.

Every generated student passes the registration rules and the duplicate check, against the
registry and against every other generated student: a resident ID (or permit, passport)
whose blind index no one holds, and a (name pinyin, birth date, sex) block no one shares.
The full import, the raw load and the naive loop therefore all load every row, so their
throughputs compare like for like.

The people themselves come from the demo generator (``xueji.exchange.synthetic``): surname
frequencies, rare characters, ID numbers matching birthplace and a birth date fitting the
grade, a few passports and permits, a few students still without an ID (L numbers).
"""

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from xueji.exchange.columns import STUDENT_COLUMNS
from xueji.exchange.loader import STUDENT_COPY_COLUMNS
from xueji.exchange.synthetic import DISABILITY, FOREIGN, GIVEN, DemoPlan, Generator
from xueji.schools.models import School
from xueji.schools.rules import GRADES, SchoolState, SchoolType, stages_for
from xueji.students import identity
from xueji.students.models import NumberKind, Student, StudentNumber
from xueji.students.names import name_key, name_pinyin
from xueji.students.rules import IdType, j_number, l_number

# Columns of students_student written by the raw load, in ``NewStudent.raw_row`` order.
RAW_COLUMNS = (*STUDENT_COPY_COLUMNS, "frozen", "created_at", "updated_at")


@dataclass(frozen=True)
class SchoolInfo:
    id: int
    code: str
    area_code: str
    province_code: str
    school_type: str
    listed_separately: bool
    grades: tuple[str, ...]


@dataclass
class NewStudent:
    school: SchoolInfo
    name: str
    name_pinyin: str
    name_key: str
    sex: str
    birth_date: date
    birthplace_code: str
    ethnicity: str
    nationality: str
    id_type: str
    id_number: str
    hmt_code: str
    grade: str
    class_name: str
    entry_date: date
    guardian_name: str
    guardian_id_number: str
    guardian_phone: str
    left_behind: bool
    migrant: bool
    orphan: bool
    disability: str
    regular_class: bool
    # Issued here for the raw load and the naive loop; the full path issues its own.
    number: str
    number_kind: str

    def cells(self) -> list[str]:
        """One import-file row, in ``STUDENT_COLUMNS`` order, every cell as text."""
        yes_no = {True: "是", False: "否"}
        values = {
            "school_code": self.school.code,
            "name": self.name,
            "sex": self.sex,
            "birth_date": self.birth_date.isoformat(),
            "birthplace_code": self.birthplace_code,
            "native_place_code": self.birthplace_code,
            "ethnicity": self.ethnicity,
            "nationality": self.nationality,
            "id_type": self.id_type,
            "id_number": self.id_number,
            "hmt_code": self.hmt_code,
            "household_place_code": self.birthplace_code,
            "household_type": "3",
            "health": "10",
            "grade": self.grade,
            "class_name": self.class_name,
            "entry_date": f"{self.entry_date:%Y-%m}",
            "entry_mode": "1" if GRADES[self.grade].stage != "3" else "2",
            "attendance": "1",
            "guardian_name": self.guardian_name,
            "guardian_relation": "51",
            "guardian_id_type": IdType.RESIDENT_ID,
            "guardian_id_number": self.guardian_id_number,
            "guardian_phone": self.guardian_phone,
            "phone": self.guardian_phone,
            "left_behind": yes_no[self.left_behind],
            "migrant": yes_no[self.migrant],
            "orphan": yes_no[self.orphan],
            "disability": self.disability,
            "regular_class": yes_no[self.regular_class],
        }
        return [str(values.get(column.key, "")) for column in STUDENT_COLUMNS]

    @property
    def id_key(self) -> str | None:
        if not self.id_number:
            return None
        return identity.blind_index(self.id_type, self.id_number)

    def raw_row(self, stamp: datetime) -> tuple:
        """The students_student row the import would write (``RAW_COLUMNS`` order)."""
        return (
            identity.seal_number(self.number),
            identity.number_key(self.number),
            identity.mask_student_number(self.number),
            self.number_kind,
            self.name,
            "",
            self.name_pinyin,
            self.name_key,
            self.sex,
            self.birth_date,
            self.birthplace_code,
            self.birthplace_code,
            self.ethnicity,
            self.nationality,
            self.id_type,
            identity.stored_value(self.id_type, self.id_number),
            self.id_key,
            None,
            self.hmt_code,
            self.birthplace_code,
            "3",
            "10",
            False,
            stamp,
            stamp,
        )


class NewStudentSource:
    """Draws students unknown to the registry (and to each other), at open schools."""

    def __init__(self, *, seed: int = 7_000_001) -> None:
        self.generator = Generator(DemoPlan(students=0, schools=0, seed=seed))
        self.rng = self.generator.rng
        self.schools: list[SchoolInfo] = []
        for school in School.objects.filter(state=SchoolState.OPEN).order_by("pk"):
            grades = tuple(
                code
                for code, info in GRADES.items()
                if info.stage in stages_for(school.school_type) and code != "24"
            )
            if grades:
                self.schools.append(
                    SchoolInfo(
                        school.pk,
                        school.code,
                        school.area_code,
                        school.province_code,
                        school.school_type,
                        school.listed_separately,
                        grades,
                    )
                )
        if not self.schools:
            raise RuntimeError("the registry holds no open school to import into")
        # What the registry already holds: ID blind indexes, duplicate-check blocks and the
        # J and L numbers (G numbers follow from the ID).
        self.keys: set[str] = {
            key
            for key in Student.objects.exclude(id_key__isnull=True).values_list("id_key", flat=True)
            if key
        }
        self.blocks: set[tuple[str, date, str]] = set(
            Student.objects.values_list("name_key", "birth_date", "sex")
        )
        self.numbers: set[str] = set(
            StudentNumber.objects.exclude(kind=NumberKind.G).values_list("number", flat=True)
        )
        self._pinyin: dict[str, tuple[str, str]] = {}

    def _reading(self, name: str) -> tuple[str, str]:
        reading = self._pinyin.get(name)
        if reading is None:
            reading = self._pinyin[name] = (name_pinyin(name), name_key(name))
        return reading

    def _fresh_key(self, id_type: str, number: str) -> bool:
        key = identity.blind_index(id_type, number)
        if key in self.keys:
            return False
        self.keys.add(key)
        return True

    def take(self, count: int) -> Iterator[NewStudent]:
        for _ in range(count):
            yield self._draw()

    def _draw(self) -> NewStudent:
        gen, rng = self.generator, self.rng
        while True:
            school = rng.choice(self.schools)
            grade = rng.choice(school.grades)
            sex = "1" if rng.random() < 0.52 else "2"
            born = gen._birth_date(grade)
            home = (
                school.area_code if not school.listed_separately else rng.choice(gen.all_counties)
            )
            birthplace = home if rng.random() < 0.85 else rng.choice(gen.all_counties)
            roll = rng.random()
            nationality, hmt, kind = "CHN", "00", NumberKind.G
            id_type: str = IdType.RESIDENT_ID
            name = ""
            if roll < 0.006:
                nationality, name = rng.choice(FOREIGN)
                id_type, hmt, kind = IdType.PASSPORT, "51", NumberKind.J
                id_number = f"{chr(65 + rng.randrange(26))}{rng.randrange(10**7, 10**8)}"
            elif roll < 0.010:
                id_type, kind = IdType.HKMO_PERMIT, NumberKind.J
                id_number = f"{rng.choice('HM')}{rng.randrange(10**7, 10**8)}"
                hmt = "01" if id_number[0] == "H" else "03"
            elif roll < 0.012:
                id_type, hmt, kind = IdType.TW_PERMIT, "05", NumberKind.J
                id_number = f"{rng.randrange(10**7, 10**8)}"
            elif roll < 0.020:
                id_type, id_number, kind = "", "", NumberKind.L
            else:
                id_number = gen._resident_id(birthplace, born, sex)
            if id_number and not self._fresh_key(id_type, id_number):
                continue
            # A name whose block nobody holds: otherwise the row is a suspected duplicate.
            for _attempt in range(20):
                name = name or gen._name()
                pinyin, key = self._reading(name)
                if (key, born, sex) not in self.blocks:
                    break
                name = "" if nationality == "CHN" else name
            else:
                continue
            self.blocks.add((key, born, sex))
            break
        number = self._number(kind, id_number, school.area_code, born)
        father_born = date(
            born.year - rng.randrange(24, 40), rng.randrange(1, 13), rng.randrange(1, 28)
        )
        disability = ""
        regular_class = False
        if rng.random() < 0.01 or school.school_type == SchoolType.SPECIAL_EDUCATION:
            disability = rng.choice(DISABILITY)
            regular_class = school.school_type != SchoolType.SPECIAL_EDUCATION
        return NewStudent(
            school=school,
            name=name,
            name_pinyin=pinyin,
            name_key=key,
            sex=sex,
            birth_date=born,
            birthplace_code=birthplace,
            ethnicity="01" if rng.random() < 0.91 else f"{rng.randrange(2, 57):02d}",
            nationality=nationality,
            id_type=id_type,
            id_number=id_number,
            hmt_code=hmt,
            grade=grade,
            class_name=f"{rng.randrange(1, 9)}班",
            entry_date=gen._entry_date(grade),
            guardian_name=(
                name[0] + rng.choice(GIVEN) + rng.choice(GIVEN)
                if nationality == "CHN"
                else name.split()[0] + " JOHN"
            ),
            guardian_id_number=gen._resident_id(birthplace, father_born, "1"),
            guardian_phone=f"1{rng.choice('3456789')}{rng.randrange(10**8, 10**9)}",
            left_behind=rng.random() < 0.05,
            migrant=birthplace[:2] != home[:2],
            orphan=rng.random() < 0.002,
            disability=disability,
            regular_class=regular_class,
            number=number,
            number_kind=kind,
        )

    def _number(self, kind: str, id_number: str, area_code: str, born: date) -> str:
        if kind == NumberKind.G:
            return "G" + id_number
        if kind == NumberKind.J:
            for sequence in range(1, 1000):
                number = j_number(area_code, born, sequence)
                if number not in self.numbers:
                    break
        else:
            while True:
                number = l_number(area_code, born, f"{self.rng.randrange(10000):04d}")
                if number not in self.numbers:
                    break
        self.numbers.add(number)
        return number


def header() -> list[str]:
    return [column.header for column in STUDENT_COLUMNS]


def write_csv(path: Path, students: list[NewStudent]) -> int:
    """A UTF-8 csv with the template's Chinese headers; returns the file size in bytes."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header())
        writer.writerows(student.cells() for student in students)
    return path.stat().st_size


def write_xlsx(path: Path, students: list[NewStudent]) -> int:
    """An xlsx whose every cell is text (as the template asks for ID columns)."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    text = workbook.add_format({"num_format": "@"})
    sheet = workbook.add_worksheet("学生")
    sheet.write_row(0, 0, header(), text)
    for row, student in enumerate(students, start=1):
        for column, value in enumerate(student.cells()):
            sheet.write_string(row, column, value, text)
    workbook.close()
    return path.stat().st_size
