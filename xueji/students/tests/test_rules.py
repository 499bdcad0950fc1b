"""Property and example tests of the pure ID and student-number rules (no database)."""

from datetime import date

import pytest
import stdnum.cn.ric
from hypothesis import assume, given
from hypothesis import strategies as st
from stdnum.exceptions import InvalidComponent, ValidationError

from xueji.students.rules import (
    FEMALE,
    MALE,
    IdCheck,
    IdCode,
    IdType,
    StudentNumberCode,
    g_number,
    j_number,
    l_number,
    normalize_id,
    parse_student_number,
    resident_id_check_char,
    upgrade_15_to_18,
    validate_id,
    validate_student_number,
)

TODAY = date(2025, 9, 1)

# Real GB/T 2260 county-level codes, long-lived, so stdnum's table knows them too.
AREAS = (
    "110101",  # 北京 东城区
    "110105",  # 北京 朝阳区
    "120101",  # 天津 和平区
    "310104",  # 上海 徐汇区
    "320102",  # 南京 玄武区
    "330106",  # 杭州 西湖区
    "420106",  # 武汉 武昌区
    "440106",  # 广州 天河区
    "510104",  # 成都 锦江区
    "610113",  # 西安 雁塔区
)
KNOWN = frozenset(AREAS)


def area_known(code: str) -> bool:
    return code in KNOWN


def make_id(area: str, born: date, seq: int) -> str:
    body = f"{area}{born:%Y%m%d}{seq:03d}"
    return body + resident_id_check_char(body)


def check(id_type: str, raw: str, today: date = TODAY) -> IdCheck:
    return validate_id(id_type, raw, today=today, area_known=area_known)


areas = st.sampled_from(AREAS)
birth_dates = st.dates(min_value=date(1950, 1, 1), max_value=TODAY)
sequences = st.integers(min_value=0, max_value=999)
valid_ids = st.builds(make_id, areas, birth_dates, sequences)
CHECK_ALPHABET = "0123456789X"


# --- resident ID: properties -------------------------------------------------------------


@given(area=areas, born=birth_dates, seq=sequences)
def test_generated_resident_ids_validate(area, born, seq):
    """A number built by the GB 11643 rules passes and yields its date, sex and area."""
    number = make_id(area, born, seq)

    result = check(IdType.RESIDENT_ID, number)

    assert result.ok, result.message
    assert result.code == IdCode.OK
    assert result.number == number
    assert result.birth_date == born
    assert result.sex == (MALE if seq % 2 else FEMALE)
    assert result.area_code == area


@given(number=valid_ids)
def test_stdnum_agrees_on_valid_ids(number):
    """python-stdnum computes the same check character and accepts the number.

    stdnum also checks the birth place against its own historical table; only that
    component check may disagree, never length, format or checksum.
    """
    assert stdnum.cn.ric.calc_check_digit(number) == number[-1]
    try:
        assert stdnum.cn.ric.validate(number) == number
    except InvalidComponent:
        pass
    except (ValidationError, KeyError) as exc:  # pragma: no cover - the failure branch
        pytest.fail(f"stdnum rejected {number}: {exc!r}")


@given(body=st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_char_matches_stdnum_for_any_body(body):
    """The MOD 11-2 check character equals stdnum's for every 17-digit body."""
    assert resident_id_check_char(body) == stdnum.cn.ric.calc_check_digit(body + "0")


@given(number=valid_ids, position=st.integers(min_value=0, max_value=17), data=st.data())
def test_any_single_substitution_is_caught(number, position, data):
    """Changing any one character (body digit or check character) makes the number invalid."""
    alphabet = CHECK_ALPHABET if position == 17 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    mutated = number[:position] + replacement + number[position + 1 :]

    result = check(IdType.RESIDENT_ID, mutated)

    assert not result.ok
    assert result.code != IdCode.OK


@given(number=valid_ids, position=st.integers(min_value=0, max_value=15))
def test_adjacent_transpositions_in_the_body_are_caught(number, position):
    """Swapping two different neighbouring body digits is detected (distinct weights)."""
    a, b = number[position], number[position + 1]
    assume(a != b)
    swapped = number[:position] + b + a + number[position + 2 :]

    assert not check(IdType.RESIDENT_ID, swapped).ok


@given(
    area=areas,
    born=st.dates(min_value=date(1900, 1, 1), max_value=date(1999, 12, 31)),
    seq=sequences,
)
def test_15_digit_upgrade_round_trip(area, born, seq):
    """Upgrading the 15-digit form gives the 18-character number it stands for."""
    number18 = make_id(area, born, seq)
    number15 = number18[:6] + number18[8:17]

    assert upgrade_15_to_18(number15) == number18
    assert normalize_id(IdType.RESIDENT_ID, number15) == number18
    result = check(IdType.RESIDENT_ID, number15)
    assert result.ok
    assert result.number == number18
    assert result.birth_date == born


@given(
    id_type=st.sampled_from(list(IdType)),
    raw=st.text(max_size=40),
)
def test_normalize_is_idempotent(id_type, raw):
    """Normalising twice changes nothing (the blind index relies on it)."""
    once = normalize_id(id_type, raw)
    assert normalize_id(id_type, once) == once


@given(number=valid_ids)
def test_normalization_variants_of_a_valid_id_all_pass(number):
    """Lower-case x, full-width characters and surrounding spaces normalise away."""
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    for raw in (number.lower(), full_width, f"\u3000 {number}\t\n", f"\ufeff{number}"):
        result = check(IdType.RESIDENT_ID, raw)
        assert result.ok, (raw, result.message)
        assert result.number == number


# --- resident ID: examples ---------------------------------------------------------------


def test_gb11643_example_is_valid():
    """The standard's own example number, 11010519491231002X, is valid (female)."""
    result = check(IdType.RESIDENT_ID, "11010519491231002X")
    assert result == IdCheck(
        ok=True,
        number="11010519491231002X",
        code=IdCode.OK,
        message="",
        birth_date=date(1949, 12, 31),
        sex=FEMALE,
        area_code="110105",
    )


def test_wrong_check_char_names_expected_and_actual():
    result = check(IdType.RESIDENT_ID, "110105194912310025")
    assert result.code == IdCode.CHECKSUM
    assert result.message == "校验码错误：应为 X，实为 5"


def test_impossible_date_19990231():
    body = "11010519990231002"
    result = check(IdType.RESIDENT_ID, body + resident_id_check_char(body))
    assert result.code == IdCode.DATE_INVALID
    assert "19990231" in result.message


def test_birth_date_after_today():
    result = check(IdType.RESIDENT_ID, make_id("110105", date(2025, 9, 2), 1))
    assert result.code == IdCode.DATE_FUTURE
    assert "20250902" in result.message
    assert "20250901" in result.message


def test_birth_date_today_is_accepted():
    assert check(IdType.RESIDENT_ID, make_id("110105", TODAY, 1)).ok


def test_birth_date_before_1900():
    result = check(IdType.RESIDENT_ID, make_id("110105", date(1899, 12, 31), 1))
    assert result.code == IdCode.TOO_OLD


def test_unknown_area_999999():
    result = check(IdType.RESIDENT_ID, make_id("999999", date(2010, 1, 1), 1))
    assert result.code == IdCode.AREA_UNKNOWN
    assert "999999" in result.message


def test_unknown_area_from_the_predicate():
    result = validate_id(
        IdType.RESIDENT_ID,
        "11010519491231002X",
        today=TODAY,
        area_known=lambda code: code == "110101",
    )
    assert result.code == IdCode.AREA_UNKNOWN


@pytest.mark.parametrize(("prefix", "area"), [("81", "810000"), ("82", "820000"), ("83", "830000")])
def test_permit_prefix_under_resident_id_points_to_the_permit_type(prefix, area):
    result = check(IdType.RESIDENT_ID, make_id(area, date(2010, 1, 1), 1))
    assert result.code == IdCode.WRONG_TYPE
    assert prefix in result.message
    assert "港澳台居民居住证" in result.message


def test_foreign_number_under_resident_id_points_to_the_foreign_type():
    result = check(IdType.RESIDENT_ID, make_id("911124", date(1981, 8, 3), 2))
    assert result.code == IdCode.WRONG_TYPE
    assert "外国人永久居留身份证" in result.message


@pytest.mark.parametrize(
    "raw",
    [
        "11010519491231002x",
        "１１０１０５１９４９１２３１００２Ｘ",
        "１１０１０５１９４９１２３１００２ｘ",
        "  11010519491231002X  ",
        "\u300011010519491231002X\u3000",
        "\u200b11010519491231002X",
    ],
)
def test_normalised_forms_of_the_example(raw):
    result = check(IdType.RESIDENT_ID, raw)
    assert result.ok, result.message
    assert result.number == "11010519491231002X"


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        ("", IdCode.EMPTY, "不能为空"),
        ("   ", IdCode.EMPTY, "不能为空"),
        ("110105 19491231002X", IdCode.FORMAT, "空格"),
        ("1101051949123100", IdCode.LENGTH, "实为 16 位"),
        ("11010519491231002X1", IdCode.LENGTH, "实为 19 位"),
        ("11A10519491231002X", IdCode.FORMAT, "第 3 位"),
        ("11010519491231002Y", IdCode.FORMAT, "末位应为数字或 X"),
        ("1101051949123100X2", IdCode.FORMAT, "第 17 位"),
        ("110105990231002", IdCode.DATE_INVALID, "19990231"),
        ("11010519491231002", IdCode.LENGTH, "实为 17 位"),
    ],
)
def test_resident_id_rejections(raw, code, fragment):
    result = check(IdType.RESIDENT_ID, raw)
    assert not result.ok
    assert result.code == code
    assert fragment in result.message
    assert result.birth_date is None
    assert result.sex is None


def test_upgrade_rejects_non_15_digit_input():
    with pytest.raises(ValueError):
        upgrade_15_to_18("11010549123100")
    with pytest.raises(ValueError):
        upgrade_15_to_18("11010549123100X")


def test_check_char_rejects_bad_body():
    with pytest.raises(ValueError):
        resident_id_check_char("1234")
    with pytest.raises(ValueError):
        resident_id_check_char("1101051949123100X")


def test_unknown_id_type_is_an_error():
    with pytest.raises(ValueError):
        check("7", "123456")


# --- residence permits -------------------------------------------------------------------


@given(area=st.sampled_from(["810000", "820000", "830000"]), born=birth_dates, seq=sequences)
def test_generated_residence_permits_validate(area, born, seq):
    number = make_id(area, born, seq)
    result = check(IdType.RESIDENCE_PERMIT, number)
    assert result.ok, result.message
    assert result.birth_date == born
    assert result.area_code == area


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        (make_id("110105", date(2010, 1, 1), 1), IdCode.WRONG_TYPE, "810000"),
        (make_id("811111", date(2010, 1, 1), 1), IdCode.FORMAT, "811111"),
        (make_id("810000", date(2010, 2, 1), 1)[:-1] + "Y", IdCode.FORMAT, "末位"),
        (make_id("810000", date(2030, 1, 1), 1), IdCode.DATE_FUTURE, "20300101"),
        (make_id("820000", date(1899, 1, 1), 1), IdCode.TOO_OLD, "18990101"),
        (
            "81000019990231001" + resident_id_check_char("81000019990231001"),
            IdCode.DATE_INVALID,
            "",
        ),
        ("810000 2010010100", IdCode.FORMAT, "空格"),
        ("8100002010010100", IdCode.LENGTH, "16"),
    ],
)
def test_residence_permit_rejections(raw, code, fragment):
    result = check(IdType.RESIDENCE_PERMIT, raw)
    assert result.code == code
    assert fragment in result.message


def test_residence_permit_wrong_check_char():
    number = make_id("830000", date(2012, 6, 1), 3)
    wrong = "0" if number[-1] != "0" else "1"
    result = check(IdType.RESIDENCE_PERMIT, number[:-1] + wrong)
    assert result.code == IdCode.CHECKSUM
    assert result.message == f"校验码错误：应为 {number[-1]}，实为 {wrong}"


def test_residence_permit_ignores_area_predicate():
    """The 810000/820000/830000 prefix is the whole area rule; the table is not asked."""
    result = validate_id(
        IdType.RESIDENCE_PERMIT,
        make_id("820000", date(2012, 6, 1), 3),
        today=TODAY,
        area_known=lambda code: False,
    )
    assert result.ok


# --- travel permits ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("H12345678", "H12345678"),
        ("M12345678", "M12345678"),
        ("h12345678", "H12345678"),
        ("H1234567801", "H1234567801"),
        ("Ｍ１２３４５６７８", "M12345678"),
        (" H12345678 ", "H12345678"),
    ],
)
def test_hkmo_permit_valid(raw, number):
    result = check(IdType.HKMO_PERMIT, raw)
    assert result.ok, result.message
    assert result.number == number


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        ("C12345678", IdCode.FORMAT, "H（香港）或 M（澳门）"),
        ("12345678", IdCode.FORMAT, "开头"),
        ("H1234567", IdCode.LENGTH, "实为 7 位"),
        ("H123456789", IdCode.LENGTH, "实为 9 位"),
        ("H12345678901", IdCode.LENGTH, "实为 11 位"),
        ("H1234A678", IdCode.FORMAT, "数字"),
        ("H 12345678", IdCode.FORMAT, "空格"),
    ],
)
def test_hkmo_permit_rejections(raw, code, fragment):
    result = check(IdType.HKMO_PERMIT, raw)
    assert result.code == code
    assert fragment in result.message


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("12345678", "12345678"),
        ("1234567801", "1234567801"),
        ("0099730503(B)", "0099730503B"),
        ("0099730503（B）", "0099730503B"),
        ("0099730503b", "0099730503B"),
        ("0123456701(35)", "012345670135"),
        ("１２３４５６７８", "12345678"),
    ],
)
def test_tw_permit_valid(raw, number):
    result = check(IdType.TW_PERMIT, raw)
    assert result.ok, result.message
    assert result.number == number


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("1234567", IdCode.LENGTH),
        ("123456789", IdCode.LENGTH),
        ("0123456701(99)", IdCode.LENGTH),
        ("1234567A", IdCode.FORMAT),
        ("T12345678", IdCode.FORMAT),
        ("0099730503(BB)", IdCode.FORMAT),
        ("1234 5678", IdCode.FORMAT),
    ],
)
def test_tw_permit_rejections(raw, code):
    assert check(IdType.TW_PERMIT, raw).code == code


# --- passports ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("E12345678", "E12345678"),
        ("EA1234567", "EA1234567"),
        ("G12345678", "G12345678"),
        ("e12345678", "E12345678"),
        ("X1234", "X1234"),
        ("A" * 17, "A" * 17),
        ("５３４３２１９８７", "534321987"),
    ],
)
def test_passport_valid(raw, number):
    result = check(IdType.PASSPORT, raw)
    assert result.ok, result.message
    assert result.number == number


@pytest.mark.parametrize(
    ("raw", "code", "fragment"),
    [
        ("E123", IdCode.LENGTH, "实为 4 位"),
        ("A" * 18, IdCode.LENGTH, "实为 18 位"),
        ("E1234 5678", IdCode.FORMAT, "空格"),
        ("E-12345678", IdCode.FORMAT, "第 2 位"),
        ("E12345678.", IdCode.FORMAT, "字母和数字"),
        ("护照12345", IdCode.FORMAT, "汉字"),
        ("E1234𠀀5678", IdCode.FORMAT, "汉字"),
    ],
)
def test_passport_rejections(raw, code, fragment):
    result = check(IdType.PASSPORT, raw)
    assert result.code == code
    assert fragment in result.message


# --- foreign permanent resident ID -------------------------------------------------------


def foreign_2023(province: str, country: str, born: date, seq: int) -> str:
    body = f"9{province}{country}{born:%Y%m%d}{seq:03d}"
    return body + resident_id_check_char(body)


def icao_check(text: str) -> str:
    values = [int(c) if c.isdigit() else ord(c) - 55 for c in text]
    return str(sum(v * (7, 3, 1)[i % 3] for i, v in enumerate(values)) % 10)


def foreign_2017(country: str, city: str, yymmdd: str, seq: int) -> str:
    body = f"{country}{city}{yymmdd}{seq}"
    return body + icao_check(body)


def test_foreign_2023_published_sample():
    """A sample from an open-source validator: province 11, Canada (124), 1981-08-03."""
    result = check(IdType.FOREIGN_PERMANENT, "911124198108030024")
    assert result.ok, result.message
    assert result.birth_date == date(1981, 8, 3)
    assert result.sex == FEMALE
    assert result.area_code == "110000"


@given(
    province=st.sampled_from(["11", "31", "44", "65"]),
    country=st.sampled_from(["840", "124", "392", "410", "276"]),
    born=birth_dates,
    seq=sequences,
)
def test_generated_foreign_2023_numbers_validate(province, country, born, seq):
    number = foreign_2023(province, country, born, seq)
    result = check(IdType.FOREIGN_PERMANENT, number)
    assert result.ok, result.message
    assert result.birth_date == born
    assert result.sex == (MALE if seq % 2 else FEMALE)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (foreign_2023("11", "840", date(1990, 1, 1), 1)[:-1] + "0", IdCode.CHECKSUM),
        ("1" + foreign_2023("11", "840", date(1990, 1, 1), 1)[1:], IdCode.FORMAT),
        (foreign_2023("99", "840", date(1990, 1, 1), 1), IdCode.AREA_UNKNOWN),
        (foreign_2023("11", "840", date(2030, 1, 1), 1), IdCode.DATE_FUTURE),
        ("91184019900231001" + resident_id_check_char("91184019900231001"), IdCode.DATE_INVALID),
        ("9118401990010100", IdCode.LENGTH),
        ("9118401990 010100", IdCode.FORMAT),
    ],
)
def test_foreign_2023_rejections(raw, code):
    assert check(IdType.FOREIGN_PERMANENT, raw).code == code


def test_foreign_2023_wrong_check_char_message():
    number = foreign_2023("11", "840", date(1990, 1, 1), 1)
    assert number[-1] != "0"
    result = check(IdType.FOREIGN_PERMANENT, number[:-1] + "0")
    assert result.message == f"校验码错误：应为 {number[-1]}，实为 0"


def test_foreign_2017_valid_and_century():
    """Two-digit years: 2015 when that is not after today, else 19xx."""
    recent = check(IdType.FOREIGN_PERMANENT, foreign_2017("USA", "3100", "150301", 1))
    older = check(IdType.FOREIGN_PERMANENT, foreign_2017("CAN", "1100", "750207", 2).lower())
    assert recent.ok, recent.message
    assert recent.birth_date == date(2015, 3, 1)
    assert recent.sex == MALE
    assert recent.area_code == "310000"
    assert older.ok, older.message
    assert older.number.startswith("CAN")
    assert older.birth_date == date(1975, 2, 7)
    assert older.sex == FEMALE


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (foreign_2017("USA", "3100", "150301", 1)[:-1] + "X", IdCode.FORMAT),
        ("US1310015030110", IdCode.FORMAT),
        (foreign_2017("USA", "9900", "150301", 1), IdCode.AREA_UNKNOWN),
        (foreign_2017("USA", "3100", "150231", 1), IdCode.DATE_INVALID),
        ("USA31001503011", IdCode.LENGTH),
    ],
)
def test_foreign_2017_rejections(raw, code):
    assert check(IdType.FOREIGN_PERMANENT, raw).code == code


def test_foreign_2017_wrong_check_digit():
    number = foreign_2017("USA", "3100", "150301", 1)
    wrong = str((int(number[-1]) + 1) % 10)
    result = check(IdType.FOREIGN_PERMANENT, number[:-1] + wrong)
    assert result.code == IdCode.CHECKSUM
    assert result.message == f"校验码错误：应为 {number[-1]}，实为 {wrong}"


# --- other documents ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [("出生医学证明 No.K123", "出生医学证明 NO.K123"), ("x" * 32, "X" * 32), ("𠀀-1", "𠀀-1")],
)
def test_other_valid(raw, number):
    result = check(IdType.OTHER, raw)
    assert result.ok, result.message
    assert result.number == number


@pytest.mark.parametrize(
    ("raw", "code"),
    [("", IdCode.EMPTY), ("a" * 33, IdCode.LENGTH), ("AB\x07C", IdCode.FORMAT)],
)
def test_other_rejections(raw, code):
    assert check(IdType.OTHER, raw).code == code


def test_id_type_codes_are_fixed():
    assert {t.value: t.name for t in IdType} == {
        "1": "RESIDENT_ID",
        "2": "RESIDENCE_PERMIT",
        "3": "HKMO_PERMIT",
        "4": "TW_PERMIT",
        "5": "PASSPORT",
        "6": "FOREIGN_PERMANENT",
        "9": "OTHER",
    }
    assert str(IdType.RESIDENT_ID.label) == "居民身份证"


# --- student numbers ---------------------------------------------------------------------

divisions = st.sampled_from(AREAS)
j_sequences = st.integers(min_value=1, max_value=999)


@given(number=valid_ids)
def test_g_numbers_from_valid_ids_validate(number):
    g = g_number(number)
    assert g == "G" + number
    assert validate_student_number(g, today=TODAY).ok
    parts = parse_student_number(g)
    assert parts is not None
    assert (parts.kind, parts.division_code, parts.check_char) == ("G", number[:6], number[-1])


@given(division=divisions, born=birth_dates, seq=j_sequences)
def test_j_numbers_validate_and_parse(division, born, seq):
    number = j_number(division, born, seq)

    assert len(number) == 19
    assert validate_student_number(number, today=TODAY) == (True, StudentNumberCode.OK, "")
    parts = parse_student_number(number)
    assert parts is not None
    assert parts.kind == "J"
    assert parts.division_code == division
    assert parts.birth_date == born
    assert parts.sequence == f"{seq:03d}"
    assert parts.check_char == resident_id_check_char(number[1:18])


@given(
    division=divisions,
    born=birth_dates,
    seq=j_sequences,
    position=st.integers(min_value=1, max_value=18),
    data=st.data(),
)
def test_any_one_character_change_in_a_j_number_is_caught(division, born, seq, position, data):
    """MOD 11-2 catches every single substitution after the kind letter.

    The kind letter itself is outside the check: J and G share the layout, see the report.
    """
    number = j_number(division, born, seq)
    alphabet = CHECK_ALPHABET if position == 18 else "0123456789"
    replacement = data.draw(st.sampled_from([c for c in alphabet if c != number[position]]))
    mutated = number[:position] + replacement + number[position + 1 :]

    ok, code, _message = validate_student_number(mutated, today=TODAY)

    assert not ok
    assert code != StudentNumberCode.OK


@given(division=divisions, born=birth_dates, random4=st.from_regex(r"\A[0-9]{4}\Z"))
def test_l_numbers_validate_and_parse(division, born, random4):
    number = l_number(division, born, random4)
    assert len(number) == 19
    assert validate_student_number(number).ok
    parts = parse_student_number(number)
    assert parts is not None
    assert (parts.kind, parts.sequence, parts.check_char) == ("L", random4, None)
    assert parts.birth_date == born


@pytest.mark.parametrize(
    ("number", "code", "fragment"),
    [
        ("", StudentNumberCode.EMPTY, "不能为空"),
        ("G110105194912310025", StudentNumberCode.CHECKSUM, "应为 X，实为 5"),
        ("J110105201503040010", StudentNumberCode.CHECKSUM, "应为 7，实为 0"),
        ("L11010520150304123A", StudentNumberCode.FORMAT, "第 19 位"),
        ("L11010520150304123X", StudentNumberCode.FORMAT, "18 位数字"),
        ("X11010519491231002X", StudentNumberCode.KIND, "G、J 或 L"),
        ("G11010519491231002", StudentNumberCode.LENGTH, "实为 18 位"),
        ("J1101052015030400171", StudentNumberCode.LENGTH, "实为 20 位"),
        ("L110105201502301234", StudentNumberCode.DATE_INVALID, "20150230"),
        ("G" + make_id("110105", date(1899, 1, 1), 1), StudentNumberCode.TOO_OLD, "18990101"),
        ("J1101A5201503040017", StudentNumberCode.FORMAT, "第 6 位"),
    ],
)
def test_student_number_rejections(number, code, fragment):
    ok, actual_code, message = validate_student_number(number)
    assert not ok
    assert actual_code == code
    assert fragment in message


def test_student_number_future_date_only_with_today():
    number = j_number("110105", date(2026, 1, 1), 5)
    assert validate_student_number(number).ok
    result = validate_student_number(number, today=TODAY)
    assert result.code == StudentNumberCode.DATE_FUTURE


def test_student_number_normalises_case_and_spaces():
    assert validate_student_number(" g11010519491231002x ").ok
    assert parse_student_number("g11010519491231002x").number == "G11010519491231002X"


@pytest.mark.parametrize(
    "number",
    ["", "G11010519491231002", "Q11010519491231002X", "L11010520150230123A", "G110105199902310021"],
)
def test_parse_rejects_malformed_numbers(number):
    assert parse_student_number(number) is None


def test_generators_reject_bad_arguments():
    with pytest.raises(ValueError):
        g_number("110105194912310025")
    with pytest.raises(ValueError):
        j_number("110105", date(2015, 3, 4), 0)
    with pytest.raises(ValueError):
        j_number("110105", date(2015, 3, 4), 1000)
    with pytest.raises(ValueError):
        j_number("11010", date(2015, 3, 4), 1)
    with pytest.raises(ValueError):
        l_number("110105", date(2015, 3, 4), "12a4")
    with pytest.raises(ValueError):
        l_number("110105", date(2015, 3, 4), "123")
