"""The shipped reference data and its loader."""

import io
import json
from collections import Counter

import pytest
from django.core.management import call_command

from xueji.divisions import refdata
from xueji.divisions.models import CodeItem, CodeTable, Division, DivisionLevel

CURRENT = json.loads(refdata.CURRENT_FILE.read_text(encoding="utf-8"))
HISTORICAL = json.loads(refdata.HISTORICAL_FILE.read_text(encoding="utf-8"))
TABLES = refdata.code_table_rows()


def by_level(rows, level):
    return [row for row in rows if row["level"] == level]


# ----------------------------------------------------------------- the data files


def test_current_tree_has_plausible_counts():
    """34 provinces, more than 330 city-level and 2,800 county-level units."""
    assert len(by_level(CURRENT, 1)) == 34
    assert len(by_level(CURRENT, 2)) > 330
    assert len(by_level(CURRENT, 3)) > 2800


def test_current_rows_are_open_and_codes_well_formed():
    """Six-digit codes whose pattern matches the level; every current row has no end date."""
    for row in CURRENT:
        assert len(row["code"]) == 6 and row["code"].isdigit(), row
        assert row["valid_to"] is None, row
        assert row["valid_from"], row
    for row in by_level(CURRENT, 1):
        assert row["code"].endswith("0000") and row["parent_code"] == ""
    for row in by_level(CURRENT, 2):
        assert row["code"].endswith("00") and not row["code"].endswith("0000")


def test_every_county_has_a_city_which_has_a_province():
    """Province → city → county for every county, the parents sharing the code prefix."""
    current = {row["code"]: row for row in CURRENT}
    for county in by_level(CURRENT, 3):
        city = current[county["parent_code"]]
        assert city["level"] == 2
        assert county["code"][:4] == city["code"][:4]
        province = current[city["parent_code"]]
        assert province["level"] == 1
        assert city["code"][:2] == province["code"][:2]


def test_special_provinces_and_synthetic_city_rows_are_present():
    """Taiwan, Hong Kong and Macau are provinces; municipalities and 省直辖 get grouping rows."""
    current = {row["code"]: row for row in CURRENT}
    assert current["710000"]["name"] == "台湾省"
    assert current["810000"]["name"] == "香港特别行政区"
    assert current["820000"]["name"] == "澳门特别行政区"
    for code in ("110100", "120100", "310100", "500100"):
        assert current[code]["name"] == "市辖区"
    assert current["500200"]["name"] == "县"
    assert current["429000"]["name"] == "省直辖县级行政区划"
    assert current["429004"]["parent_code"] == "429000"
    assert current["469000"]["parent_code"] == "460000"
    assert current["659000"]["name"] == "自治区直辖县级行政区划"
    assert {row["name"] for row in by_level(CURRENT, 2)} & refdata.GROUPING_NAMES


def test_codes_are_unique_per_version():
    """A code appears once in the current tree and once per start date overall."""
    current_codes = Counter(row["code"] for row in CURRENT)
    assert max(current_codes.values()) == 1
    versions = Counter((row["code"], row["valid_from"]) for row in CURRENT + HISTORICAL)
    assert max(versions.values()) == 1


def test_historical_versions_are_closed_and_dated_in_order():
    """Every historical version ends, after it starts."""
    assert len(HISTORICAL) > 1000
    for row in HISTORICAL:
        assert row["valid_to"] is not None, row
        assert row["valid_from"] < row["valid_to"], row


def test_abolished_codes_are_in_the_historical_file():
    """Districts merged away (崇文区, 宣武区) and 1990s codes survive as history."""
    historical = {row["code"]: row for row in HISTORICAL}
    assert historical["110103"]["name"] == "崇文区"
    assert historical["110104"]["name"] == "宣武区"
    assert historical["110103"]["parent_code"] == "110100"


def test_each_code_table_is_shipped_and_non_empty():
    """One non-empty file per CodeTable value, codes unique within a table."""
    assert set(TABLES) == set(CodeTable.values)
    for table, rows in TABLES.items():
        assert rows, table
        codes = [row["code"] for row in rows]
        assert len(codes) == len(set(codes)), table
        for row in rows:
            assert set(row) == {"code", "name", "name_en", "sort", "extra"}, (table, row)


def test_ethnicity_has_the_56_groups_plus_other_and_foreign_origin():
    """GB 3304: 01..56, then 97 其他 and 98 外国血统中国籍人士."""
    codes = [row["code"] for row in TABLES["ethnicity"]]
    assert codes == [f"{n:02d}" for n in range(1, 57)] + ["97", "98"]
    names = {row["code"]: row["name"] for row in TABLES["ethnicity"]}
    assert names["01"] == "汉族"
    assert names["56"] == "基诺族"
    assert all(row["name_en"] for row in TABLES["ethnicity"])


def test_countries_cover_iso_3166_with_chinese_names():
    """At least 249 alpha-3 codes; China, Hong Kong, Macau and Taiwan named as China's."""
    countries = {row["code"]: row for row in TABLES["country"]}
    assert len(countries) >= 249
    assert countries["CHN"]["name"] == "中国"
    assert countries["CHN"]["extra"]["numeric"] == "156"
    assert countries["HKG"]["name"] == "中国香港"
    assert countries["MAC"]["name"] == "中国澳门"
    assert countries["TWN"]["name"] == "中国台湾"
    for row in countries.values():
        assert len(row["code"]) == 3 and row["code"].isupper()
        assert any("\u4e00" <= ch <= "\u9fff" for ch in row["name"]), row


def test_codes_the_application_relies_on():
    """The fixed codes used by the domain logic are the ones shipped."""
    names = {table: {r["code"]: r for r in rows} for table, rows in TABLES.items()}
    assert names["id_type"]["1"]["name"] == "居民身份证"
    assert names["school_type"]["312"]["extra"]["stages"] == ["1", "2"]
    assert names["school_type"]["901"]["extra"]["listed_separately"] is True
    assert names["grade"]["11"]["extra"] == {"stage": "1", "year": 1, "age": 6}
    assert names["grade"]["21"]["extra"]["age"] == 12
    assert names["grade"]["31"]["extra"]["age"] == 15
    assert names["hmt"]["00"]["name"] == "非港澳台侨外"
    assert names["relation"]["51"]["name"] == "父亲"
    assert names["relation"]["52"]["name"] == "母亲"


# ----------------------------------------------------------------- file-based lookups


def test_known_area_codes_cover_current_and_abolished_codes():
    """Known: current and abolished codes. Unknown: made-up codes."""
    codes = refdata.known_area_codes()
    assert "110101" in codes
    assert "110000" in codes
    assert "110103" in codes  # 崇文区, abolished 2010
    assert "999999" not in codes
    assert "000000" not in codes


def test_known_area_codes_need_no_database():
    """Read from the files: no database access happens (no db fixture here)."""
    refdata.known_area_codes.cache_clear()
    assert len(refdata.known_area_codes()) > 5000


def test_province_codes_are_the_34_two_digit_prefixes():
    """Includes 71 (Taiwan), 81 and 82."""
    provinces = refdata.province_codes()
    assert len(provinces) == 34
    assert {"11", "44", "65", "71", "81", "82"} <= provinces


# ----------------------------------------------------------------- the loader


def test_loader_fills_the_tables(db):
    """Every data row becomes a database row."""
    counts = refdata.load_reference_data()

    assert counts["divisions"] == len(CURRENT) + len(HISTORICAL)
    assert Division.objects.count() == counts["divisions"]
    assert Division.objects.filter(valid_to__isnull=True).count() == len(CURRENT)
    provinces = Division.objects.filter(valid_to__isnull=True, level=DivisionLevel.PROVINCE)
    assert provinces.count() == 34
    for table in CodeTable.values:
        assert CodeItem.objects.filter(table=table, active=True).count() == counts[table] > 0
    ethnicity = CodeItem.objects.get(table=CodeTable.ETHNICITY, code="01")
    assert (ethnicity.name, ethnicity.name_en) == ("汉族", "Han")


def test_loader_is_idempotent(db, django_assert_max_num_queries):
    """A second run writes nothing and leaves every row as it was."""
    refdata.load_reference_data()
    before = list(Division.objects.order_by("pk").values_list())
    items_before = list(CodeItem.objects.order_by("pk").values_list())

    # Only the reads of the two tables (plus savepoint handling) happen.
    with django_assert_max_num_queries(6):
        refdata.load_reference_data()

    assert list(Division.objects.order_by("pk").values_list()) == before
    assert list(CodeItem.objects.order_by("pk").values_list()) == items_before


def test_loader_repairs_edits_and_retires_unknown_rows(db):
    """Edited rows are restored, stray divisions deleted, stray code items deactivated."""
    refdata.load_reference_data()
    Division.objects.filter(code="110101", valid_to__isnull=True).update(name="改名")
    stray = Division.objects.create(
        code="999999", name="虚构", level=3, parent_code="990000", valid_from="2000-01-01"
    )
    CodeItem.objects.create(table=CodeTable.ETHNICITY, code="99", name="旧代码")

    refdata.load_reference_data()

    assert Division.objects.get(code="110101", valid_to__isnull=True).name == "东城区"
    assert not Division.objects.filter(pk=stray.pk).exists()
    assert CodeItem.objects.get(table=CodeTable.ETHNICITY, code="99").active is False


def test_load_refdata_command_prints_counts(db):
    """The command loads and prints one count per table."""
    out = io.StringIO()
    call_command("load_refdata", stdout=out)

    text = out.getvalue()
    assert "divisions" in text
    assert "ethnicity" in text
    assert Division.objects.exists()


@pytest.mark.parametrize("code", ["110101", "429004", "500157", "653228"])
def test_loaded_county_path_reaches_a_province(db, code):
    """Through the database too, a county's parents lead to its province."""
    refdata.load_reference_data()
    county = Division.objects.get(code=code, valid_to__isnull=True)
    city = Division.objects.get(code=county.parent_code, valid_to__isnull=True)
    province = Division.objects.get(code=city.parent_code, valid_to__isnull=True)
    assert (county.level, city.level, province.level) == (3, 2, 1)
