"""A registry with planted duplicates for the duplicate benchmark.

People are drawn like the demo generator's (``xueji.exchange.synthetic``): surnames at
their census frequencies, given names of one or two characters, a few rare characters,
resident IDs carrying the birthplace and birth date with a valid check character, 2 % of
students without an ID (L numbers) or with a passport or permit. Each child has a father
and a mother with resident IDs; a record lists both 80 % of the time, the father only 10 %,
the mother only 7 %, neither 3 %.

Then, for ``duplicate_share`` of the registry, the same person is registered a second
time, as happens in practice — never with the same ID (the registry refuses a second
record for one ID), so the second record has no ID (a temporary L number) or another
document:

- ``typo``: one character of the given name (one time in ten, the surname) mistyped;
- ``homophone``: one character replaced by another with the same pinyin (张/章, 轩/宣);
- ``swapped``: day and month of the birth date swapped (born on the 1st to 12th);
- ``two_ids``: registered under a passport or a Hong Kong/Macau permit (another ID key),
  three times in ten with the name written in capital pinyin as on the document;
- ``temporary``: a temporary L number next to the formal G one;
- ``next_day``: born on the last or first day of a month, registered a day off across
  the month or year end (2017-12-31 → 2018-01-01).

The second record lists both parents 55 % of the time, the father only 25 %, the mother
only 10 %, neither 10 % (so it shares no guardian with the first when each lists another
parent, or either lists none); it sits at a school of the same county 40 %, of the same
province 35 %, elsewhere 25 %, and keeps the birthplace 95 % of the time.

Each parent has a mobile phone; each record gives the family's phone (one parent's) as
the student's contact eight times in ten (else the other parent's), with the phones of the
guardians it lists, and the family's address on 85 % of records — on 60 % of second
registrations (20 % a new address after a move, 20 % none). A second record that lists the
other parent than the first ("registered by the other parent", no guardian in common) so
still shares the family's phone or home most of the time. Phones and addresses come from a
random generator of their own, so the rest of the registry is unchanged by them.

Schools, from a generator of their own too: classmates move together — three second
registrations in ten are at the one school (of the same county) to which pupils of the
first record's school move, so that two schools hold more than one pair — and a second
registration at another school names the first record's school as the school the child
came from (原就读学校, non-basic data) half of the time.

The latest semester confirmation (核准) marked every record: present 97 %, absent 2 %
(dropped out, left), not marked 1 %. For a person registered twice, the child is at one of
the two schools (the second one 70 % of the time), which marks the child present; the other
school marks its record absent 80 % of the time, present 12 % (a clerk who confirmed the
whole roll), leaves it unmarked 8 %. ``Registry.without_attendance()`` gives the same
registry before any campaign.

Hard negatives stand beside them: twins (``twin_share`` of people: same surname, birth
date, guardian, birthplace and school, half of them sharing a given-name character) and
brothers and sisters (``sibling_share``: same surname, parents and birthplace). They are
different people and must not be linked; each is confirmed present or absent on its own.

ID numbers are generated but not stored: the registry rows carry their blind indexes
(``id_key``), which is all the duplicate checks read; ``id_number`` stays empty.
"""

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from xueji.exchange.synthetic import GIVEN, RARE, SURNAMES, _weighted_surnames
from xueji.students.names import homophones, name_pinyin
from xueji.students.rules import IdType, j_number, l_number, resident_id_check_char

KINDS = ("typo", "homophone", "swapped", "two_ids", "temporary", "next_day")
# Which parents a record lists: (both, father only, mother only); the rest list none.
FIRST_LISTING = (0.80, 0.10, 0.07)
SECOND_LISTING = (0.55, 0.25, 0.10)
# Characters that sound like a name character (extra to GIVEN and the surnames), so that
# most characters have a homophone to be mistaken for.
HOMOPHONE_POOL = (
    "玮炜薇婕萱晗寒宣依仪艺奕逸毅溢宸辰琛尘程成诚承澄呈钰玉宇语雨禹羽予俞瑜渝昱煜育欣馨新心"
    "鑫芯翊熠轶睿瑞锐蕊哲喆浙皓昊浩灏豪毫嘉佳家加琪祺淇棋琦奇静婧晶菁敬涵函韩梓子紫姿恩思"
    "斯丝诗师施时轩璇瑄铭明鸣名茗彤桐童瞳一伊衣医依宁凝柠泽择则章汪柳黎伍阳许吕侣俊骏峻"
    "君军钧娟鹃杰捷洁颖影莹盈英瑛婴樱鹰洋扬杨阳羊佑右又幼优悠攸尤曦希溪熙夕析兮博搏伯柏"
)


@dataclass(slots=True)
class Person:
    """One registry record, with the truth about who it is."""

    id: int
    person: int  # the same for a person's records
    kind: str  # "" (first record), a duplicate kind, "twin" or "sibling"
    name: str
    sex: str
    birth_date: date
    birthplace_code: str
    id_type: str
    id_number: str
    number_kind: str
    number: str
    school: int  # index into the plan's schools
    parents: tuple[str, str]  # the father's and the mother's ID numbers (the family)
    guardians: tuple[str, ...]  # the ones the record lists
    attendance: str = ""  # latest confirmation: "present", "absent", "" (not marked)
    phone: str = ""  # the student's contact phone (non-basic data): mostly the family's
    address: str = ""  # the current address (non-basic data), "" when not filled in
    previous_school: int | None = None  # the school it came from (index), when named


@dataclass
class Plan:
    records: int = 1_000_000
    duplicate_share: float = 0.01
    twin_share: float = 0.006
    sibling_share: float = 0.05
    seed: int = 20255


@dataclass(frozen=True)
class SchoolSlot:
    area_code: str
    province_code: str


@dataclass
class Registry:
    people: list[Person]
    schools: list[SchoolSlot]
    # (smaller id, larger id) → duplicate kind, for every pair of records of one person.
    planted: dict[tuple[int, int], str] = field(default_factory=dict)

    def without_attendance(self) -> "Registry":
        """The same records before any confirmation campaign (no marks)."""
        people = [replace(p, attendance="") for p in self.people]
        return Registry(people=people, schools=self.schools, planted=self.planted)

    def counts(self) -> dict[str, int]:
        result: dict[str, int] = {}
        for person in self.people:
            result[person.kind or "first"] = result.get(person.kind or "first", 0) + 1
        return result


def _homophones() -> dict[str, list[str]]:
    """Character → other characters read the same (toneless pinyin)."""
    return homophones(
        sorted(set(GIVEN) | set(HOMOPHONE_POOL) | {s for s, _ in SURNAMES if len(s) == 1})
    )


class Builder:
    def __init__(self, plan: Plan, counties: list[str], *, first_id: int = 1) -> None:
        if not counties:
            raise ValueError("no counties to place schools in")
        self.plan = plan
        self.rng = random.Random(plan.seed)
        # Phones and addresses draw from their own generator: the registry is otherwise the
        # one generated before they existed.
        self.contact_rng = random.Random(plan.seed * 7 + 1)
        # And schools moved to and named (classmates, the previous school).
        self.school_rng = random.Random(plan.seed * 11 + 3)
        self.destinations: dict[int, int] = {}
        self.surname = _weighted_surnames(self.rng)
        self.counties = sorted(counties)
        self.homophones = _homophones()
        self.given_chars = [ch for ch in dict.fromkeys(GIVEN)]
        self.next_id = first_id
        self.next_person = 1
        self.used_ids: set[str] = set()
        self.used_numbers: set[str] = set()
        school_count = max(len(self.counties), plan.records // 500)
        self.schools = [
            SchoolSlot(area_code=c, province_code=c[:2])
            for c in (self.counties[i % len(self.counties)] for i in range(school_count))
        ]
        self.schools_by_county: dict[str, list[int]] = {}
        for index, school in enumerate(self.schools):
            self.schools_by_county.setdefault(school.area_code, []).append(index)
        self.provinces: dict[str, list[str]] = {}
        for county in self.counties:
            self.provinces.setdefault(county[:2], []).append(county)
        self.today = date(2026, 3, 1)

    # -- one person -----------------------------------------------------------------------

    def _given(self, length: int | None = None) -> str:
        rng = self.rng
        length = length or (1 if rng.random() < 0.25 else 2)
        given = "".join(rng.choice(self.given_chars) for _ in range(length))
        if rng.random() < 0.004:
            given = given[:-1] + rng.choice(RARE)
        return given

    def _birth_date(self) -> date:
        # School age: 6 to 18 on the reference day, spread evenly.
        start = date(self.today.year - 19, 9, 1).toordinal()
        return date.fromordinal(start + self.rng.randrange(13 * 365))

    def _resident_id(self, area: str, born: date, sex: str) -> str:
        while True:
            seq = self.rng.randrange(0, 500) * 2 + (1 if sex == "1" else 0)
            body = f"{area}{born:%Y%m%d}{seq:03d}"
            number = body + resident_id_check_char(body)
            if number not in self.used_ids:
                self.used_ids.add(number)
                return number

    def _other_document(self) -> tuple[str, str]:
        rng = self.rng
        while True:
            if rng.random() < 0.5:
                id_type, number = IdType.PASSPORT, f"E{rng.randrange(10**7, 10**8)}"
            else:
                id_type, number = IdType.HKMO_PERMIT, f"H{rng.randrange(10**7, 10**8)}"
            if number not in self.used_ids:
                self.used_ids.add(number)
                return str(id_type), number

    def _number(self, kind: str, school: int, born: date, id_number: str) -> str:
        area = self.schools[school].area_code
        if kind == "G":
            return "G" + id_number
        seq = 1
        while True:
            if kind == "J":
                number = j_number(area, born, seq)
                seq += 1
            else:
                number = l_number(area, born, f"{self.rng.randrange(10000):04d}")
            if number not in self.used_numbers:
                self.used_numbers.add(number)
                return number

    def _school_in(self, county: str) -> int:
        return self.rng.choice(self.schools_by_county[county])

    def _record(
        self,
        *,
        person: int,
        kind: str,
        name: str,
        sex: str,
        born: date,
        birthplace: str,
        school: int,
        parents: tuple[str, str],
        guardians: tuple[str, ...],
        document: str,
    ) -> Person:
        """``document``: "G" (resident ID), "J" (passport or permit), "L" (none yet)."""
        id_type, id_number = "", ""
        if document == "G":
            id_type, id_number = str(IdType.RESIDENT_ID), self._resident_id(birthplace, born, sex)
        elif document == "J":
            id_type, id_number = self._other_document()
        record = Person(
            id=self.next_id,
            person=person,
            kind=kind,
            name=name,
            sex=sex,
            birth_date=born,
            birthplace_code=birthplace,
            id_type=id_type,
            id_number=id_number,
            number_kind=document,
            number=self._number(document, school, born, id_number),
            school=school,
            parents=parents,
            guardians=guardians,
        )
        record.phone, record.address = self._contacts(parents, kind)
        self.next_id += 1
        return record

    def _contacts(self, parents: tuple[str, str], kind: str) -> tuple[str, str]:
        """The record's contact phone and address: the family's phone (one parent's) on
        eight records in ten, else the other parent's; the family's home on 85 % of first
        records, twins and siblings, while a second registration gives it on 60 % (20 %
        a new home after a move, 20 % none)."""
        rng = self.contact_rng
        home_phone, other_phone = sorted(parents, key=lambda n: _digest(n + "home"))
        phone = parent_phone(home_phone if rng.random() < 0.8 else other_phone)
        roll = rng.random()
        if kind in KINDS:
            address = (
                family_address(parents)
                if roll < 0.6
                else (family_address(parents, moved=rng.randrange(1, 10**6)) if roll < 0.8 else "")
            )
        else:
            address = family_address(parents) if roll < 0.85 else ""
        return phone, address

    def _listed(
        self, parents: tuple[str, str], shares: tuple[float, float, float]
    ) -> tuple[str, ...]:
        """The parents a record lists: both, the father, the mother (``shares``), or none."""
        roll = self.rng.random()
        both, father, mother = shares
        if roll < both:
            return parents
        if roll < both + father:
            return parents[:1]
        if roll < both + father + mother:
            return parents[1:]
        return ()

    def _parents(self, born: date, birthplace: str) -> tuple[str, str]:
        rng = self.rng
        father_born = date(
            born.year - rng.randrange(24, 40), rng.randrange(1, 13), rng.randrange(1, 28)
        )
        mother_born = date(
            born.year - rng.randrange(22, 38), rng.randrange(1, 13), rng.randrange(1, 28)
        )
        return (
            self._resident_id(birthplace, father_born, "1"),
            self._resident_id(birthplace, mother_born, "2"),
        )

    def first_record(self) -> Person:
        rng = self.rng
        sex = "1" if rng.random() < 0.52 else "2"
        born = self._birth_date()
        school = rng.randrange(len(self.schools))
        home = self.schools[school].area_code
        birthplace = home if rng.random() < 0.85 else rng.choice(self.counties)
        roll = rng.random()
        document = "G" if roll >= 0.02 else ("L" if roll < 0.012 else "J")
        parents = self._parents(born, birthplace)
        person = self.next_person
        self.next_person += 1
        return self._record(
            person=person,
            kind="",
            name=self.surname() + self._given(),
            sex=sex,
            born=born,
            birthplace=birthplace,
            school=school,
            parents=parents,
            guardians=self._listed(parents, FIRST_LISTING),
            document=document,
        )

    # -- relatives and duplicates ----------------------------------------------------------

    def twin(self, of: Person) -> Person:
        rng = self.rng
        surname, given = _split(of.name)
        twin_given = self._given(len(given) if given else None)
        if len(given) == 2 and rng.random() < 0.5:
            # 子轩 and 子涵: one character shared, in the same place.
            keep = rng.randrange(2)
            twin_given = "".join(given[i] if i == keep else twin_given[i] for i in range(2))
        if twin_given == given:
            twin_given = given[:-1] + rng.choice([c for c in self.given_chars if c != given[-1]])
        self.next_person += 1
        return self._record(
            person=self.next_person - 1,
            kind="twin",
            name=surname + twin_given,
            sex="1" if rng.random() < 0.5 else "2",
            born=of.birth_date,
            birthplace=of.birthplace_code,
            school=of.school,
            parents=of.parents,
            guardians=of.guardians,
            document=of.number_kind if of.number_kind != "J" else "G",
        )

    def sibling(self, of: Person) -> Person:
        rng = self.rng
        surname, _ = _split(of.name)
        gap = rng.choice([-1, 1]) * rng.randrange(400, 6 * 365)
        born = of.birth_date + timedelta(days=gap)
        county = self.schools[of.school].area_code
        self.next_person += 1
        return self._record(
            person=self.next_person - 1,
            kind="sibling",
            name=surname + self._given(),
            sex="1" if rng.random() < 0.52 else "2",
            born=born,
            birthplace=of.birthplace_code,
            school=self._school_in(county),
            parents=of.parents,
            guardians=self._listed(of.parents, FIRST_LISTING),
            document="G" if rng.random() >= 0.02 else "L",
        )

    def duplicate(self, of: Person, kind: str) -> Person | None:
        """The same person registered again, or ``None`` when ``of`` cannot carry ``kind``."""
        rng = self.rng
        name, born = of.name, of.birth_date
        surname, given = _split(name)
        if kind == "typo":
            if not given or rng.random() < 0.1:
                replacement = self.surname()
                if replacement == surname or len(replacement) != len(surname):
                    return None
                name = replacement + given
            else:
                position = rng.randrange(len(given))
                options = [
                    c
                    for c in self.given_chars
                    if c != given[position] and c not in self.homophones.get(given[position], [])
                ]
                name = surname + given[:position] + rng.choice(options) + given[position + 1 :]
        elif kind == "homophone":
            positions = [i for i, ch in enumerate(name) if self.homophones.get(ch)]
            if not positions:
                return None
            position = rng.choice(positions)
            name = (
                name[:position] + rng.choice(self.homophones[name[position]]) + name[position + 1 :]
            )
        elif kind == "swapped":
            if born.day > 12 or born.day == born.month:
                return None
            born = date(born.year, born.day, born.month)
        elif kind == "next_day":
            # A day off across a month or year end (2017-12-31 → 2018-01-01).
            if born.day == 1:
                born -= timedelta(days=1)
            elif (born + timedelta(days=1)).day == 1:
                born += timedelta(days=1)
            else:
                return None
        if of.number_kind != "G":
            return None
        if kind == "two_ids":
            document = "J"
            if rng.random() < 0.3:
                name = name_pinyin(name).upper()
        elif kind == "temporary":
            document = "L"
        else:
            document = "L" if rng.random() < 0.7 else "J"
        county = self.schools[of.school].area_code
        roll = rng.random()
        if roll < 0.4:
            school = self._school_in(county)
        elif roll < 0.75 and len(self.provinces[county[:2]]) > 1:
            school = self._school_in(
                rng.choice([c for c in self.provinces[county[:2]] if c != county])
            )
        else:
            school = rng.randrange(len(self.schools))
        if self.school_rng.random() < 0.3:
            school = self._destination(of.school)
        record = self._record(
            person=of.person,
            kind=kind,
            name=name,
            sex=of.sex if rng.random() >= 0.01 else ("2" if of.sex == "1" else "1"),
            born=born,
            birthplace=of.birthplace_code if rng.random() >= 0.05 else "",
            school=school,
            parents=of.parents,
            guardians=self._listed(of.parents, SECOND_LISTING),
            document=document,
        )
        if school != of.school and self.school_rng.random() < 0.5:
            record.previous_school = of.school
        return record

    def _destination(self, school: int) -> int:
        """The school of the same county to which pupils of ``school`` move."""
        if school not in self.destinations:
            county = self.schools[school].area_code
            others = [s for s in self.schools_by_county[county] if s != school] or [school]
            self.destinations[school] = self.school_rng.choice(others)
        return self.destinations[school]

    def confirm(self, person: Person) -> None:
        """The latest campaign's mark of a record of someone registered once."""
        roll = self.rng.random()
        person.attendance = "present" if roll < 0.97 else ("absent" if roll < 0.99 else "")

    def confirm_pair(self, first: Person, second: Person) -> None:
        """One person, two records: present where the child is, mostly absent elsewhere."""
        here, stale = (second, first) if self.rng.random() < 0.7 else (first, second)
        here.attendance = "present"
        roll = self.rng.random()
        stale.attendance = "absent" if roll < 0.8 else ("present" if roll < 0.92 else "")


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest(), 16)


def parent_phone(parent_id: str) -> str:
    """A parent's mobile number, fixed by the parent's ID number."""
    return f"1{3 + _digest(parent_id) % 7}{_digest(parent_id + 'p') % 10**9:09d}"


def family_address(parents: tuple[str, str], *, moved: int = 0) -> str:
    """The family's home (a new one after a move), fixed by the parents' ID numbers."""
    n = _digest(parents[0] + parents[1] + str(moved))
    return (
        f"幸福路{n % 900 + 1}号{n // 900 % 30 + 1}栋{n // 27000 % 30 + 1}0{n // 810000 % 4 + 1}室"
    )


def _split(name: str) -> tuple[str, str]:
    from xueji.anomalies.names import split_name

    return split_name(name)


def build(
    plan: Plan,
    counties: list[str],
    *,
    first_id: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Registry:
    """``plan.records`` records: first records, then duplicates, twins and siblings of
    some of them, shuffled so that a duplicate is not always the later id."""
    builder = Builder(plan, counties, first_id=first_id)
    rng = builder.rng
    duplicates = round(plan.records * plan.duplicate_share)
    twins = round(plan.records * plan.twin_share)
    siblings = round(plan.records * plan.sibling_share)
    firsts = plan.records - duplicates - twins - siblings
    people = [builder.first_record() for _ in range(firsts)]
    if progress:
        progress(len(people))
    extra: list[Person] = []
    planted: dict[tuple[int, int], str] = {}
    candidates = _cycle(rng, people)
    made = 0
    for person in people:
        builder.confirm(person)
    while made < duplicates:
        kind = KINDS[made % len(KINDS)]
        of = next(candidates)
        record = builder.duplicate(of, kind)
        if record is None:
            continue
        builder.confirm_pair(of, record)
        extra.append(record)
        made += 1
    for _ in range(twins):
        of = next(candidates)
        extra.append(builder.twin(of))
        builder.confirm(extra[-1])
    for _ in range(siblings):
        of = next(candidates)
        extra.append(builder.sibling(of))
        builder.confirm(extra[-1])
    everyone = people + extra
    # New ids in a random order, so that neither side of a pair is always the lower id.
    ids = [p.id for p in everyone]
    rng.shuffle(ids)
    for person, new_id in zip(everyone, ids, strict=True):
        person.id = new_id
    everyone.sort(key=lambda p: p.id)
    by_person: dict[int, list[Person]] = {}
    for person in everyone:
        by_person.setdefault(person.person, []).append(person)
    for records in by_person.values():
        if len(records) < 2:
            continue
        kind = next(r.kind for r in records if r.kind)
        for i, left in enumerate(records):
            for right in records[i + 1 :]:
                planted[(min(left.id, right.id), max(left.id, right.id))] = kind
    if progress:
        progress(len(everyone))
    return Registry(people=everyone, schools=builder.schools, planted=planted)


def _cycle(rng: random.Random, people: list[Person]) -> Iterator[Person]:
    """People in a random order, each used once for a duplicate, twin or sibling."""
    order = list(range(len(people)))
    rng.shuffle(order)
    for index in order:
        yield people[index]
    raise RuntimeError("not enough people to plant duplicates in")
