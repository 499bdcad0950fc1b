"""Synthetic but realistic registry data for demos, tests and benchmarks.

ID numbers carry the birthplace's area code and a birth date that fits the grade, with a
valid check character; surnames follow their real frequencies; a few names hold rare
characters beyond the Basic Multilingual Plane; some students hold passports or
Hong Kong/Macau/Taiwan documents, some have no ID yet (temporary L numbers). Students are
written through the same staging-and-merge path as the bulk import.
"""

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction

from xueji import clock
from xueji.accounts.services import unit_ensure_for_school
from xueji.audit.events import AuditAction
from xueji.divisions.models import Division, DivisionLevel
from xueji.enrolment.rules import EventKind
from xueji.schools.models import School
from xueji.schools.rules import (
    GRADES,
    SEPARATE_AREA_CODES,
    ManagingLevel,
    Operator,
    SchoolType,
    stages_for,
)
from xueji.students import identity
from xueji.students.models import NumberKind
from xueji.students.names import name_key, name_pinyin
from xueji.students.rules import IdType, j_number, l_number, resident_id_check_char
from xueji.students.services import schema_for_province
from xueji.students.validation import CleanGuardian, CleanRegistration

from .loader import StudentStage, stage_row

# Surname shares of the population (per mille, 2020 census order, rounded).
SURNAMES = [
    ("王", 71),
    ("李", 70),
    ("张", 67),
    ("刘", 54),
    ("陈", 45),
    ("杨", 31),
    ("黄", 22),
    ("赵", 22),
    ("吴", 20),
    ("周", 20),
    ("徐", 17),
    ("孙", 15),
    ("马", 15),
    ("朱", 14),
    ("胡", 13),
    ("郭", 12),
    ("何", 12),
    ("林", 11),
    ("高", 11),
    ("罗", 11),
    ("郑", 10),
    ("梁", 10),
    ("谢", 8),
    ("宋", 8),
    ("唐", 8),
    ("许", 7),
    ("韩", 7),
    ("邓", 7),
    ("冯", 7),
    ("曹", 7),
    ("彭", 7),
    ("曾", 6),
    ("肖", 6),
    ("田", 6),
    ("董", 5),
    ("潘", 5),
    ("袁", 5),
    ("蔡", 5),
    ("蒋", 5),
    ("余", 5),
    ("于", 5),
    ("杜", 5),
    ("叶", 4),
    ("程", 4),
    ("魏", 4),
    ("苏", 4),
    ("吕", 4),
    ("丁", 4),
    ("任", 4),
    ("卢", 4),
    ("姚", 4),
    ("沈", 4),
    ("钟", 4),
    ("姜", 4),
    ("崔", 4),
    ("谭", 3),
    ("陆", 3),
    ("范", 3),
    ("汪", 3),
    ("廖", 3),
    ("石", 3),
    ("金", 3),
    ("韦", 3),
    ("贾", 3),
    ("夏", 3),
    ("付", 3),
    ("方", 3),
    ("邹", 2),
    ("熊", 2),
    ("白", 2),
    ("孟", 2),
    ("秦", 2),
    ("邱", 2),
    ("侯", 2),
    ("江", 2),
    ("尹", 2),
    ("薛", 2),
    ("闫", 2),
    ("段", 2),
    ("雷", 2),
    ("欧阳", 1),
    ("司马", 1),
    ("上官", 1),
    ("诸葛", 1),
    ("单", 1),
    ("解", 1),
    ("覃", 1),
    ("翟", 1),
]
GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英文华建国红梅志强浩然子轩梓涵一诺"
    "欣怡雨桐宇航思远佳怡嘉豪俊杰梦琪紫涵晨曦语嫣诗雨若曦博文天佑泽宇皓轩昊天亦凡可馨雅静"
    "书瑶佳琪铭泽睿哲浩宇锦程思彤沐阳安然"
)
# Rare characters (CJK extensions A–G) seen in real names; several need four UTF-8 bytes.
RARE = ["𠇔", "𪚥", "䶮", "𡒄", "𨰻", "𠈌", "𬌗", "𬍛", "𫖮", "𬭚", "𰻞", "堃", "喆", "𡘙"]
FOREIGN = [
    ("KOR", "KIM MINJUN"),
    ("USA", "SMITH OLIVIA"),
    ("JPN", "SATO YUKI"),
    ("RUS", "IVANOVA ANNA"),
    ("FRA", "MARTIN LEO"),
    ("DEU", "MULLER EMMA"),
    ("SGP", "TAN WEI MING"),
]
DISABILITY = ["1", "2", "3", "4", "5", "6", "7"]


@dataclass
class DemoPlan:
    students: int
    schools: int
    provinces: tuple[str, ...] = ("44", "51", "33")
    seed: int = 20251


@dataclass
class _SchoolSlot:
    school: School
    grades: list[str]
    size: int = 0


@dataclass
class GeneratedCounts:
    schools: int = 0
    students: int = 0
    school_ids: list[int] = field(default_factory=list)


def _weighted_surnames(rng: random.Random) -> Callable[[], str]:
    names = [s for s, _ in SURNAMES]
    weights = [w for _, w in SURNAMES]
    cumulative = []
    total = 0
    for w in weights:
        total += w
        cumulative.append(total)

    def draw() -> str:
        return rng.choices(names, cum_weights=cumulative, k=1)[0]

    return draw


class Generator:
    def __init__(self, plan: DemoPlan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.surname = _weighted_surnames(self.rng)
        self.used_ids: set[str] = set()
        self.used_numbers: set[str] = set()
        self.today = clock.today()
        counties = Division.objects.filter(valid_to__isnull=True, level=DivisionLevel.COUNTY)
        self.counties_by_province: dict[str, list[str]] = {}
        for code in counties.values_list("code", flat=True):
            self.counties_by_province.setdefault(code[:2], []).append(code)
        self.all_counties = [
            c
            for codes in self.counties_by_province.values()
            for c in codes
            if c[:2] not in ("71", "81", "82")
        ]

    # -- schools ---------------------------------------------------------------------

    def pick_counties(self) -> list[str]:
        """Two or three prefectures per province, two counties in each."""
        chosen = []
        for province in self.plan.provinces:
            codes = sorted(self.counties_by_province.get(province, []))
            cities = sorted({c[:4] for c in codes})
            self.rng.shuffle(cities)
            for city in sorted(cities[:3]):
                in_city = [c for c in codes if c.startswith(city)]
                chosen.extend(sorted(in_city)[:2])
        return chosen

    def create_schools(self, existing_codes: set[str]) -> list[School]:
        counties = self.pick_counties()
        types = [
            SchoolType.PRIMARY,
            SchoolType.PRIMARY,
            SchoolType.PRIMARY,
            SchoolType.JUNIOR,
            SchoolType.NINE_YEAR,
            SchoolType.SENIOR,
            SchoolType.COMPLETE_SECONDARY,
            SchoolType.TWELVE_YEAR,
            SchoolType.SPECIAL_EDUCATION,
            SchoolType.SPECIALISED,
            SchoolType.PRIMARY,
            SchoolType.JUNIOR,
        ]
        names = {
            SchoolType.PRIMARY: "实验小学",
            # Each follows "<county>第<n>": 上城区第二初级中学, 上城区第一中学.
            SchoolType.JUNIOR: "初级中学",
            SchoolType.NINE_YEAR: "九年一贯制学校",
            SchoolType.TWELVE_YEAR: "外国语学校",
            SchoolType.COMPLETE_SECONDARY: "中学",
            SchoolType.SENIOR: "高级中学",
            SchoolType.SPECIAL_EDUCATION: "特殊教育学校",
            SchoolType.SPECIALISED: "专门学校",
        }
        division_names = dict(
            Division.objects.filter(valid_to__isnull=True).values_list("code", "name")
        )
        schools: list[School] = []
        serial = 1
        count = max(self.plan.schools - 2, 1)
        for index in range(count):
            county = counties[index % len(counties)]
            school_type = types[index % len(types)]
            code = f"{1 + int(county[:2]) % 9}{county[2:6]}{serial:04d}"[:10].ljust(10, "0")
            serial += 1
            while code in existing_codes:
                code = f"{int(code) + 1:010d}"
            existing_codes.add(code)
            county_name = division_names.get(county, county)
            ordinal = "一二三四五六七八九十"[(index // len(counties)) % 10]
            schools.append(
                School(
                    code=code,
                    name=f"{county_name}第{ordinal}{names[school_type]}",
                    school_type=school_type,
                    operator=Operator.PRIVATE if index % 7 == 6 else Operator.PUBLIC,
                    division_code=county,
                    area_code=county,
                    province_code=county[:2],
                    managing_level=ManagingLevel.CITY
                    if school_type == SchoolType.SENIOR
                    else ManagingLevel.COUNTY,
                )
            )
        for school_type, name in (
            (SchoolType.OVERSEAS_CHINESE, "迪拜中国学校"),
            (SchoolType.HKMO_MAINLAND_CURRICULUM, "澳门内地课程学校"),
        ):
            code = f"9{SEPARATE_AREA_CODES[school_type][2:4]}0000{serial:03d}"[:10]
            serial += 1
            while code in existing_codes:
                code = f"{int(code) + 1:010d}"
            existing_codes.add(code)
            area = SEPARATE_AREA_CODES[school_type]
            schools.append(
                School(
                    code=code,
                    name=name,
                    school_type=school_type,
                    operator=Operator.PUBLIC,
                    division_code="",
                    area_code=area,
                    province_code=area[:2],
                    managing_level=ManagingLevel.NATIONAL,
                    listed_separately=True,
                )
            )
        with transaction.atomic():
            created = []
            for school in schools:
                school.save(force_insert=True)
                unit_ensure_for_school(school)
                created.append(school)
        return created

    # -- people ----------------------------------------------------------------------

    def _birth_date(self, grade: str) -> date:
        info = GRADES[grade]
        year_start = self.today.year if self.today.month >= 9 else self.today.year - 1
        # The usual age in this grade on Sept 1 of the school year (GRADES: 6 in grade one).
        age_at_start = info.usual_entry_age
        # Born between Sept 1 (age+1 years before) and Aug 31 (age years before the start).
        start = date(year_start - age_at_start - 1, 9, 1)
        offset = self.rng.randrange(365)
        born = date.fromordinal(start.toordinal() + offset)
        if self.rng.random() < 0.03:  # some older or younger than usual
            born = date.fromordinal(born.toordinal() + self.rng.choice([-365, 365]))
        return born

    def _resident_id(self, area: str, born: date, sex: str) -> str:
        while True:
            seq = self.rng.randrange(0, 500) * 2 + (1 if sex == "1" else 0)
            body = f"{area}{born:%Y%m%d}{seq:03d}"
            number = body + resident_id_check_char(body)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def _name(self) -> str:
        surname = self.surname()
        length = 1 if self.rng.random() < 0.25 else 2
        given = "".join(self.rng.choice(GIVEN) for _ in range(length))
        if self.rng.random() < 0.004:
            given = given[:-1] + self.rng.choice(RARE)
        return surname + given

    def _entry_date(self, grade: str) -> date:
        info = GRADES[grade]
        year_start = self.today.year if self.today.month >= 9 else self.today.year - 1
        return date(year_start - info.year + 1, 9, 1)

    def student_rows(self, slots: list[_SchoolSlot]) -> Iterator[tuple]:
        row_no = 0
        for slot in slots:
            school = slot.school
            per_grade = max(1, slot.size // max(1, len(slot.grades)))
            for grade in slot.grades:
                for i in range(per_grade):
                    row_no += 1
                    class_name = f"{i // 45 + 1}班"
                    yield self._student(row_no, school, grade, class_name)

    def _student(self, row_no: int, school: School, grade: str, class_name: str) -> tuple:
        rng = self.rng
        sex = "1" if rng.random() < 0.52 else "2"
        born = self._birth_date(grade)
        roll = rng.random()
        home = school.area_code if not school.listed_separately else rng.choice(self.all_counties)
        # 15 % are migrant children, born elsewhere.
        birthplace = home if roll < 0.85 else rng.choice(self.all_counties)
        name = self._name()
        nationality = "CHN"
        id_type: str = IdType.RESIDENT_ID
        hmt = "00"
        kind = NumberKind.G
        number_suffix = ""
        roll = rng.random()
        if roll < 0.006:
            nationality, name = rng.choice(FOREIGN)
            id_type = IdType.PASSPORT
            id_number = f"{chr(65 + rng.randrange(26))}{rng.randrange(10**7, 10**8)}"
            hmt = "51"
            kind = NumberKind.J
        elif roll < 0.010:
            id_type = IdType.HKMO_PERMIT
            id_number = f"{rng.choice('HM')}{rng.randrange(10**7, 10**8)}"
            hmt = "01" if id_number[0] == "H" else "03"
            kind = NumberKind.J
        elif roll < 0.012:
            id_type = IdType.TW_PERMIT
            id_number = f"{rng.randrange(10**7, 10**8)}"
            hmt = "05"
            kind = NumberKind.J
        elif roll < 0.020:
            id_type = ""
            id_number = ""
            kind = NumberKind.L
        else:
            id_number = self._resident_id(birthplace, born, sex)
        if id_type and id_type != IdType.RESIDENT_ID:
            if id_number in self.used_ids:
                id_number += str(rng.randrange(10))
            self.used_ids.add(id_number)
        if kind == NumberKind.G:
            number = "G" + id_number
        elif kind == NumberKind.J:
            seq = 1
            while True:
                number = j_number(school.area_code, born, seq)
                if number not in self.used_numbers:
                    break
                seq += 1
        else:
            while True:
                number = l_number(school.area_code, born, f"{rng.randrange(10000):04d}")
                if number not in self.used_numbers:
                    break
        self.used_numbers.add(number + number_suffix)
        father_born = date(
            born.year - rng.randrange(24, 40), rng.randrange(1, 13), rng.randrange(1, 28)
        )
        guardian_id = self._resident_id(birthplace, father_born, "1")
        guardian = CleanGuardian(
            name=name[0] + rng.choice(GIVEN) + rng.choice(GIVEN)
            if nationality == "CHN"
            else name.split()[0] + " JOHN",
            relation="51",
            id_type=IdType.RESIDENT_ID,
            id_number=guardian_id,
            phone=f"1{rng.choice('3456789')}{rng.randrange(10**8, 10**9)}",
        )
        stage = GRADES[grade].stage
        non_basic = {
            "address": "",
            "phone": guardian.phone,
            "left_behind": rng.random() < 0.05,
            "migrant": birthplace[:2] != home[:2],
            "orphan": rng.random() < 0.002,
            "regular_class": False,
            "only_child": rng.random() < 0.4,
        }
        if rng.random() < 0.01 or school.school_type == SchoolType.SPECIAL_EDUCATION:
            non_basic["disability"] = rng.choice(DISABILITY)
            non_basic["regular_class"] = school.school_type != SchoolType.SPECIAL_EDUCATION
        clean = CleanRegistration(
            school_code=school.code,
            name=name,
            former_name="",
            name_pinyin=name_pinyin(name),
            name_key=name_key(name),
            sex=sex,
            birth_date=born,
            birthplace_code=birthplace,
            native_place_code=birthplace,
            ethnicity="01" if rng.random() < 0.91 else f"{rng.randrange(2, 57):02d}",
            nationality=nationality,
            id_type=id_type,
            id_number=id_number,
            id_valid_until=None,
            hmt_code=hmt,
            household_place_code=birthplace,
            household_type="3",
            health="10",
            grade=grade,
            stage=stage,
            class_name=class_name,
            entry_date=self._entry_date(grade),
            entry_mode="1",
            attendance="1",
            guardians=[guardian],
            non_basic=non_basic,
        )
        return stage_row(
            row_no=row_no,
            number=number,
            number_kind=kind,
            clean=clean,
            id_number_stored=identity.stored_value(id_type, id_number) if id_number else "",
            id_key=identity.blind_index(id_type, id_number) if id_number else None,
            school_id=school.pk,
            area_code=school.area_code,
            province_code=school.province_code,
            guardian=(
                guardian.name,
                guardian.relation,
                guardian.id_type,
                identity.stored_value(guardian.id_type, guardian_id, guardian=True),
                identity.blind_index(guardian.id_type, guardian_id),
                guardian.phone,
            ),
        )


def generate(
    *,
    plan: DemoPlan,
    actor=None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = 20_000,
) -> GeneratedCounts:
    """Create ``plan.schools`` schools and ``plan.students`` students through the bulk path."""
    generator = Generator(plan)
    existing = set(School.objects.values_list("code", flat=True))
    schools = generator.create_schools(existing)
    weights = []
    for school in schools:
        grades = [
            g
            for g, info in GRADES.items()
            if info.stage in stages_for(school.school_type) and g not in ("24",)
        ]
        if school.school_type in (SchoolType.SPECIAL_EDUCATION, SchoolType.SPECIALISED):
            weight = 0.2
        elif school.listed_separately:
            weight = 0.3
        else:
            weight = 0.6 + generator.rng.random()
        weights.append((school, grades, weight * len(grades)))
    total_weight = sum(w for *_, w in weights)
    slots = [
        _SchoolSlot(school=s, grades=g, size=max(len(g), round(plan.students * w / total_weight)))
        for s, g, w in weights
    ]
    planned = sum(max(1, s.size // len(s.grades)) * len(s.grades) for s in slots)
    schema = schema_for_province("")
    stage = StudentStage("demo")
    batch = f"demo-{plan.seed}"
    done = 0
    try:
        buffer: list[tuple] = []
        for row in generator.student_rows(slots):
            buffer.append(row)
            if len(buffer) >= chunk:
                stage.add(buffer)
                done += len(buffer)
                buffer = []
                if progress:
                    progress(done, planned)
        stage.add(buffer)
        done += len(buffer)
        if progress:
            progress(done, planned)
        stage.index()
        with transaction.atomic():
            created = stage.merge(
                actor=actor,
                now=clock.now(),
                batch=batch,
                schema_id=schema.pk,
                event_kind=EventKind.IMPORT,
                audit_action=AuditAction.STUDENT_GENERATE,
                audit_summary="生成演示数据 ",
            )
    finally:
        stage.drop()
    return GeneratedCounts(
        schools=len(schools), students=created, school_ids=[s.pk for s in schools]
    )
