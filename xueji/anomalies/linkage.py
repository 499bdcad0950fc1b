"""The nightly duplicate linkage (重复学籍): Splink over the whole registry.

One Splink model, one code path, two engines: DuckDB embedded (a county, a province) or
Apache Spark (the nation), chosen by ``settings.XUEJI["LINKAGE_BACKEND"]``. The input is
``xueji.anomalies.extract``'s table; the output is the pairs whose match probability
reaches the threshold, each with the evidence that put it there, and their clusters.

The model's m and u probabilities are fixed here rather than re-estimated on every run:
the same parameters on both engines give the same pairs, and a nightly job whose result
moves with a random sample would put a pair in the review queue one night and take it out
the next. ``estimate_u`` re-estimates the u probabilities from a registry (random
sampling with a seed, on DuckDB) and returns a model to pass to ``run_linkage``.

Why the evidence is what it is (requirements §7): a registry cannot hold two records with
the same ID (``Student.id_key`` is unique), so a duplicate is one person registered again
without the ID, under another document (passport, permit), or with a temporary L number
next to the formal one — often with a mistyped or homophone name or a swapped day and
month. The semester confirmation (核准, Art. 25) adds what the records alone cannot say:
the school of a stale second record marks it absent, while twins are both confirmed
present by their school. Two IDs of one type with different numbers, and two records
confirmed present by one school, are two people, whatever else they share (twins share
surname, birth date, guardians, birthplace and school): docs/duplicates.md.
"""

import atexit
import logging
import math
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from .extract import RegistryRow, to_table
from .rules import DEFAULTS as LINKAGE_DEFAULTS
from .rules import threshold as configured

# The built-in threshold; a deployment sets ``XUEJI["ANOMALY_LINKAGE_THRESHOLD"]``, read by
# ``configured_threshold`` — the one value the findings (``detect linkage``) and the
# printed pairs (``link_duplicates``) both use.
DEFAULT_THRESHOLD: float = LINKAGE_DEFAULTS["ANOMALY_LINKAGE_THRESHOLD"]


def configured_threshold() -> float:
    """The deployment's linkage threshold (``XUEJI["ANOMALY_LINKAGE_THRESHOLD"]``), else
    the built-in one."""
    return float(configured(getattr(settings, "XUEJI", {}), "ANOMALY_LINKAGE_THRESHOLD"))


# Prior: the share of records that are a second registration of someone already in the
# registry (about as many duplicate pairs). The probability that two random records match
# is derived from it and the record count, so a county and the nation get the same
# calibration.
EXPECTED_DUPLICATE_SHARE = 0.01
BACKENDS = ("duckdb", "spark")
# Levels whose m and u are set by rule, not estimated: they say "two people" nearly for
# certain, and no sample of verdicts holds enough of them to measure how rarely a
# duplicate shows them.
FIXED_LEVELS = frozenset({"id_differs", "attendance_present_same_school"})
# Labelled pairs count against the built-in m as if it came from this many pairs: a level
# the labels never show keeps a share of its built-in m instead of dropping to zero.
M_PRIOR_PAIRS = 50
# Levels whose u follows from the registry's size rather than from random pairs.
DERIVED_U = frozenset({"guardian_same_born"})
# Twin pairs per child (twins are about 1.2 % of births) and the birth dates a school
# registry spans (ages 6 to 18): how often two children born the same day are twins.
TWIN_PAIR_SHARE = 0.006
BIRTH_DAYS = 13 * 365


def _twin_share_u(records: int) -> float:
    """The share of pairs born the same day that are twins, in a registry of ``records``:
    twin pairs (``TWIN_PAIR_SHARE`` × records) over same-day pairs (records² / 2 /
    ``BIRTH_DAYS``); at most the sibling level's 0.003 (a small registry)."""
    same_day_pairs = max(records * records / 2 / BIRTH_DAYS, 1.0)
    return min(TWIN_PAIR_SHARE * records / same_day_pairs, 0.003)


# Classmates moving together: another pair linked in its own right between the same two
# schools (a class moved, and the new school registered some of its pupils again). m: the
# share of duplicate pairs whose two schools also hold another one; u: the share of other
# pairs between two schools holding a duplicate pair (high in a small registry of few
# schools: the weight stays modest). Added to a pair's match weight after Splink scores
# it (the evidence is about other pairs, not the two records), before the threshold.
CLASSMATES_M = 0.3
CLASSMATES_U = 0.03
CLASSMATES_WEIGHT = math.log2(CLASSMATES_M / CLASSMATES_U)


def _weight(probability: float) -> float:
    probability = min(max(probability, 1e-300), 1 - 1e-16)
    return math.log2(probability / (1 - probability))


def _probability(weight: float) -> float:
    odds = 2.0 ** min(weight, 1000.0)
    return odds / (1 + odds)


# Reason codes (stable, stored with findings later) and their text for people
# (marked for translation here, translated by ``reason_text``).
REASONS: dict[str, str] = {
    "surname_exact": gettext_noop("姓相同"),
    "surname_homophone": gettext_noop("姓拼音相同（同音字）"),
    "given_exact": gettext_noop("名相同"),
    "given_homophone": gettext_noop("名拼音相同（同音字）"),
    "given_one_char": gettext_noop("名仅一字不同"),
    "given_similar": gettext_noop("名拼音相近"),
    "birth_date_exact": gettext_noop("出生日期相同"),
    "birth_date_swapped": gettext_noop("出生日期日、月颠倒"),
    "birth_date_near": gettext_noop("出生日期相差不超过两天"),
    "birth_date_day": gettext_noop("出生年月相同（日不同）"),
    "birth_date_year": gettext_noop("出生月日相同（年不同）"),
    "sex_same": gettext_noop("性别相同"),
    "id_same": gettext_noop("身份证件号相同"),
    "guardian_same_born": gettext_noop("有相同的监护人身份证件号，出生日期相同"),
    "guardian_same": gettext_noop("有相同的监护人身份证件号"),
    "contact_same": gettext_noop("监护人不同，但有相同的联系电话或住址"),
    "attendance_absent": gettext_noop("最近一次学期核准中有一条记录标记为“缺”"),
    "birthplace_same": gettext_noop("出生地相同"),
    "previous_school_same": gettext_noop("一条记录的原就读学校是另一条记录的学校"),
    "classmates_moved": gettext_noop("这两所学校之间还有另一对疑似重复记录（同学一起转学）"),
    "school_same": gettext_noop("在同一所学校"),
    "area_same": gettext_noop("学校在同一县区"),
    "area_province": gettext_noop("学校在同一省份"),
}


def reason_text(code: str) -> str:
    return _(REASONS[code]) if code in REASONS else code


@dataclass(frozen=True)
class Pair:
    id_l: int
    id_r: int
    probability: float
    match_weight: float
    reasons: tuple[str, ...]


@dataclass
class LinkageResult:
    backend: str
    records: int
    threshold: float
    pairs: list[Pair]
    # Groups of two or more records linked (directly or through others) at the threshold.
    clusters: list[tuple[int, ...]]
    seconds: dict[str, float] = field(default_factory=dict)


# -- the model --------------------------------------------------------------------------------


def comparisons(
    u_estimates: dict[str, float] | None = None,
    m_estimates: dict[str, float] | None = None,
    derived_u: dict[str, float] | None = None,
) -> list[Any]:
    """The comparisons, each level with its m (share among duplicates) and u (share among
    other pairs), named by a key (a reason code where the level is evidence for a match).
    ``u_estimates`` (key → u, from ``estimate_u``) and ``m_estimates`` (key → m, from
    ``estimate_m``) replace the built-in values; the levels in ``FIXED_LEVELS`` keep
    theirs, and ``derived_u`` (from the registry's size, ``settings_for``) sets the u of
    the levels in ``DERIVED_U``, which sampling random pairs cannot measure."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import ColumnExpression

    def _level(creator: Any, *, m: float, u: float, key: str, tf: str | None = None) -> Any:
        fixed = key in FIXED_LEVELS
        options: dict[str, Any] = {
            "m_probability": m if fixed else (m_estimates or {}).get(key, m),
            "u_probability": u if fixed or key in DERIVED_U else (u_estimates or {}).get(key, u),
            "label_for_charts": key,
        }
        if tf:
            options["tf_adjustment_column"] = tf
        return creator.configure(**options)

    surname = cl.CustomComparison(
        output_column_name="surname",
        comparison_levels=[
            cll.NullLevel("surname"),
            # u is replaced by each surname's own frequency (王 7 %, 覃 0.1 %).
            _level(
                cll.ExactMatchLevel("surname"), m=0.94, u=0.03, key="surname_exact", tf="surname"
            ),
            _level(cll.ExactMatchLevel("surname_key"), m=0.03, u=0.003, key="surname_homophone"),
            _level(cll.ElseLevel(), m=0.03, u=0.967, key="surname_other"),
        ],
    )
    given = cl.CustomComparison(
        output_column_name="given_name",
        comparison_levels=[
            cll.NullLevel("given"),
            _level(cll.ExactMatchLevel("given"), m=0.83, u=0.001, key="given_exact", tf="given"),
            _level(cll.ExactMatchLevel("given_key"), m=0.07, u=0.0005, key="given_homophone"),
            # Same length, one character different (a mistyped character): masks meet.
            _level(cll.ArrayIntersectLevel("given_masks", 1), m=0.07, u=0.01, key="given_one_char"),
            # Pinyin only (ASCII): engines agree on Jaro-Winkler for ASCII, not for
            # characters beyond the Basic Multilingual Plane (Java counts UTF-16 units).
            _level(cll.JaroWinklerLevel("given_key", 0.9), m=0.015, u=0.01, key="given_similar"),
            _level(cll.ElseLevel(), m=0.015, u=0.9785, key="given_other"),
        ],
    )
    birth_date = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            _level(cll.ExactMatchLevel("birth_date"), m=0.90, u=0.00025, key="birth_date_exact"),
            # Not the same date, but the same unordered {date, day/month swap}.
            _level(
                cll.ExactMatchLevel("birth_date_pair"), m=0.05, u=0.0001, key="birth_date_swapped"
            ),
            # One or two days apart, also across a month or year end (2017-12-31 and
            # 2018-01-01): a date typed wrongly by a day.
            _level(
                cll.CustomLevel("abs(birth_days_l - birth_days_r) <= 2"),
                m=0.015,
                u=0.0008,
                key="birth_date_near",
            ),
            _level(
                cll.And(cll.ExactMatchLevel("birth_year"), cll.ExactMatchLevel("birth_month")),
                m=0.015,
                u=0.0065,
                key="birth_date_day",
            ),
            _level(
                cll.And(cll.ExactMatchLevel("birth_month"), cll.ExactMatchLevel("birth_day")),
                m=0.01,
                u=0.003,
                key="birth_date_year",
            ),
            _level(cll.ElseLevel(), m=0.01, u=0.99015, key="birth_date_other"),
        ],
    )
    sex = cl.CustomComparison(
        output_column_name="sex",
        comparison_levels=[
            cll.NullLevel("sex"),
            _level(cll.ExactMatchLevel("sex"), m=0.98, u=0.5, key="sex_same"),
            _level(cll.ElseLevel(), m=0.02, u=0.5, key="sex_differs"),
        ],
    )
    id_document = cl.CustomComparison(
        output_column_name="id_document",
        comparison_levels=[
            cll.NullLevel("id_key"),
            _level(cll.ExactMatchLevel("id_key"), m=0.98, u=1e-6, key="id_same"),
            # Different kinds of document (resident ID and passport): says nothing.
            cll.Not(cll.ExactMatchLevel("id_type")).configure(
                is_null_level=True, label_for_charts="id_types_differ"
            ),
            # Same kind, different numbers: two people (twins), or one person with two
            # household registrations (重复户口: rare, and found by the police's own
            # checks). The registry refuses a second record for one ID, so duplicates come
            # without an ID or under another document. The weight (log2 m/u ≈ -30) is
            # decisive, like the rule it stands for: it outweighs all that twins share
            # besides (surname, birth date, guardians, birthplace, school, and one of them
            # absent at confirmation: up to about +45).
            _level(cll.ElseLevel(), m=1e-9, u=0.999999, key="id_differs"),
        ],
    )
    guardian = cl.CustomComparison(
        output_column_name="guardian",
        comparison_levels=[
            # A guardian in common (the father on one record, both parents on the other)
            # and the same birth date (or its day/month swap). Fellegi-Sunter multiplies
            # this level's u by the birth date's, so u is the share of pairs born the same
            # day that share a guardian: twins, a fixed share of children, while strangers
            # born the same day grow with the registry (``_twin_share_u``).
            _level(
                cll.And(
                    cll.ArrayIntersectLevel("guardian_keys", 1),
                    cll.Or(
                        cll.ExactMatchLevel("birth_date"), cll.ExactMatchLevel("birth_date_pair")
                    ),
                ),
                m=0.85,
                u=(derived_u or {}).get("guardian_same_born", 0.003),
                key="guardian_same_born",
            ),
            # A guardian in common, born on other days: brothers and sisters. u is set well
            # above the share of random pairs that are siblings, since siblings also share
            # surname, birthplace and area.
            _level(
                cll.ArrayIntersectLevel("guardian_keys", 1), m=0.03, u=0.003, key="guardian_same"
            ),
            # No guardian in common, but a phone or an address (keyed indexes): registered
            # again by the other parent (the father on one record, the mother on the
            # other), who gives the family's phone or home. The same family evidence as a
            # guardian in common, weighed like it (brothers and sisters share it too).
            _level(cll.ArrayIntersectLevel("contact_keys", 1), m=0.09, u=0.003, key="contact_same"),
            cll.NullLevel("guardian_keys"),
            # Registered again by someone not on the first record, sharing no phone or
            # address with it either.
            _level(cll.ElseLevel(), m=0.03, u=0.994, key="guardian_differs"),
        ],
    )
    # The latest semester confirmation (核准): a duplicate record is the one its school
    # marks absent (the student is at the other school); two people are both present.
    # "One absent" comes before the null level: the second record is often registered
    # after the campaign, and the first one's absence still counts.
    attendance = cl.CustomComparison(
        output_column_name="attendance",
        comparison_levels=[
            _level(
                cll.Or(
                    cll.LiteralMatchLevel("attendance", "absent", "string", "left"),
                    cll.LiteralMatchLevel("attendance", "absent", "string", "right"),
                ),
                m=0.75,
                u=0.04,
                key="attendance_absent",
            ),
            cll.NullLevel("attendance"),
            # Both confirmed present by one school: the school has attested two children
            # (Art. 25: each record checked against a real student), and one child on
            # its roll twice is marked "data wrong" or absent there. Decisive, like two
            # IDs of one type (log2 m/u ≈ -30): twins without an ID share everything else
            # (surname, birth date, guardians, birthplace, school), and nothing else in
            # the records tells a twin from a child whose one-character given name was
            # mistyped.
            _level(
                cll.And(
                    cll.LiteralMatchLevel("attendance", "present", "string", "both"),
                    cll.ExactMatchLevel("school_id"),
                ),
                m=1e-9,
                u=0.9,
                key="attendance_present_same_school",
            ),
            _level(cll.ElseLevel(), m=0.25, u=0.96, key="attendance_present"),
        ],
    )
    birthplace = cl.CustomComparison(
        output_column_name="birthplace",
        comparison_levels=[
            cll.NullLevel("birthplace_code"),
            _level(cll.ExactMatchLevel("birthplace_code"), m=0.90, u=0.02, key="birthplace_same"),
            _level(
                cll.ExactMatchLevel(ColumnExpression("birthplace_code").substr(1, 2)),
                m=0.05,
                u=0.1,
                key="birthplace_province",
            ),
            _level(cll.ElseLevel(), m=0.05, u=0.88, key="birthplace_other"),
        ],
    )
    area = cl.CustomComparison(
        output_column_name="school_area",
        comparison_levels=[
            cll.NullLevel("area_code"),
            # One school: about as telling as one county (a little more); apart so that the
            # reason says so.
            _level(cll.ExactMatchLevel("school_id"), m=0.05, u=0.002, key="school_same"),
            _level(cll.ExactMatchLevel("area_code"), m=0.40, u=0.018, key="area_same"),
            _level(cll.ExactMatchLevel("province_code"), m=0.35, u=0.1, key="area_province"),
            _level(cll.ElseLevel(), m=0.2, u=0.88, key="area_other"),
        ],
    )
    # The school a record says the student came from (原就读学校): a second registration
    # at a new school, by the other parent too, often names the first record's school.
    # Records at one school are the area comparison's; neither naming a school says
    # nothing.
    previous_school = cl.CustomComparison(
        output_column_name="previous_school",
        comparison_levels=[
            cll.CustomLevel("previous_schools_l IS NULL AND previous_schools_r IS NULL").configure(
                is_null_level=True, label_for_charts="previous_school_none"
            ),
            cll.ExactMatchLevel("school_id").configure(
                is_null_level=True, label_for_charts="previous_school_one_school"
            ),
            _level(
                cll.ArrayIntersectLevel("school_trail", 1),
                m=0.4,
                u=0.002,
                key="previous_school_same",
            ),
            _level(cll.ElseLevel(), m=0.6, u=0.998, key="previous_school_other"),
        ],
    )
    return [
        surname,
        given,
        birth_date,
        sex,
        id_document,
        guardian,
        attendance,
        birthplace,
        area,
        previous_school,
    ]


def blocking_rules() -> list[Any]:
    """Which pairs are compared at all: every planted kind of duplicate passes at least one
    rule, and no rule makes blocks of more than a few hundred records."""
    from splink import block_on

    return [
        # A mistyped or homophone given name, another ID document, an L number.
        block_on("birth_date", "sex", "surname_key"),
        # A mistyped or homophone surname.
        block_on("birth_date", "given_key"),
        # Swapped day and month, or another date error, with the name (pinyin) intact.
        block_on("name_key", "birth_year"),
        # Swapped day and month with a name error in the given name.
        block_on("birth_date_pair", "surname_key"),
        # Born one or two days apart across a month or year end, the name (pinyin) intact:
        # the other rules need the same year or the same date.
        block_on("name_key", "birth_near_a"),
        block_on("name_key", "birth_near_b"),
        # The same guardian (brothers and sisters come in too, and are scored apart).
        block_on("guardian_keys", arrays_to_explode=["guardian_keys"]),
        # The same ID: impossible inside one registry, possible across merged ones.
        block_on("id_key"),
    ]


def settings_for(records: int, *, model: dict[str, Any] | None = None) -> Any:
    """The Splink settings for a registry of ``records``. ``model`` (from ``estimate_u``)
    carries re-estimated u values; the comparisons and rules stay the same, so a model
    estimated on DuckDB runs on Spark."""
    from splink import SettingsCreator

    pairs = max(records * (records - 1) / 2, 1.0)
    expected = max(records * EXPECTED_DUPLICATE_SHARE, 1.0)
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons(
            (model or {}).get("u"),
            (model or {}).get("m"),
            {"guardian_same_born": _twin_share_u(records)},
        ),
        blocking_rules_to_generate_predictions=blocking_rules(),
        probability_two_random_records_match=min(expected / pairs, 0.5),
        retain_matching_columns=False,
        # Each comparison's match weight (mw_*) names its level: the pair's reasons.
        retain_intermediate_calculation_columns=True,
    )


# -- engines ----------------------------------------------------------------------------------

_spark_lock = threading.Lock()
_spark_session: Any = None
_spark_scratch = ""
# One Splink job at a time on the process's SparkSession: a run's intermediate tables go
# to a checkpoint directory of its own, which is the SparkContext's (one per process).
# Held from ``_database_api`` to ``_release``.
_spark_run_lock = threading.Lock()
_spark_run_scratch = ""


def spark_session() -> Any:
    """The process's SparkSession, created on first use with Splink's similarity jar.

    ``XUEJI["LINKAGE_SPARK_MASTER"]`` (default ``local[2]``) points it at a cluster;
    ``XUEJI_SPARK_DRIVER_MEMORY`` (default ``6g``) sizes the driver (in local mode, the
    whole engine).
    """
    global _spark_session, _spark_scratch
    with _spark_lock:
        if _spark_session is None:
            from pyspark.sql import SparkSession
            from splink.backends.spark import similarity_jar_location

            master = settings.XUEJI.get("LINKAGE_SPARK_MASTER", "local[2]")
            # Spark's scratch (warehouse, checkpoints) in a temporary directory, not the
            # working directory; removed when the process ends.
            scratch = tempfile.mkdtemp(prefix="xueji-spark-")
            atexit.register(shutil.rmtree, scratch, ignore_errors=True)
            builder = (
                SparkSession.builder.master(master)
                .appName("xueji-duplicate-linkage")
                .config("spark.jars", similarity_jar_location())
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config(
                    "spark.sql.shuffle.partitions", "4" if master.startswith("local") else "400"
                )
                .config("spark.driver.memory", os.environ.get("XUEJI_SPARK_DRIVER_MEMORY", "6g"))
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.sql.warehouse.dir", os.path.join(scratch, "warehouse"))
                # The input (an Arrow table) as a distributed dataset, never as a local
                # relation: below this threshold (48 MB by default, about 170,000 records)
                # pyspark puts the rows into the query plan itself, and the optimizer then
                # evaluates every projection of it on the driver while planning each of
                # Splink's queries: copies of the registry pile up on the driver heap
                # (java.lang.OutOfMemoryError at 100,000 records with 6 GB).
                .config("spark.sql.execution.arrow.localRelationThreshold", "0")
            )
            session = builder.getOrCreate()
            session.sparkContext.setLogLevel("ERROR")
            _spark_scratch = scratch
            _spark_session = session
        return _spark_session


def _database_api(backend: str) -> Any:
    if backend == "duckdb":
        import duckdb
        from splink import DuckDBAPI

        connection = duckdb.connect(":memory:")
        connection.execute("SET preserve_insertion_order = false")
        # Spill (a national registry outgrows memory) to a temporary directory, not to
        # ``.tmp`` in the working directory.
        connection.execute(f"SET temp_directory = '{tempfile.gettempdir()}/xueji-duckdb'")
        return DuckDBAPI(connection)
    if backend == "spark":
        from splink import SparkAPI

        global _spark_run_scratch
        session = spark_session()
        local = session.sparkContext.master.startswith("local")
        _spark_run_lock.acquire()
        try:
            _spark_run_scratch = tempfile.mkdtemp(prefix="run-", dir=_spark_scratch)
            session.sparkContext.setCheckpointDir(_spark_run_scratch)
            # Each intermediate table is written out as Parquet and read back: the next
            # query starts from files, not from the plans of all the queries before it.
            # ("persist" is lazy and keeps those plans: connected components joins each
            # iteration's tables twice, and planning grows with every iteration.)
            return SparkAPI(
                spark_session=session,
                break_lineage_method="parquet",
                num_partitions_on_repartition=2 if local else None,
            )
        except BaseException:
            shutil.rmtree(_spark_run_scratch, ignore_errors=True)
            _spark_run_lock.release()
            raise
    raise ValueError(f"unknown linkage backend {backend!r}; expected one of {BACKENDS}")


# -- the job ----------------------------------------------------------------------------------


def _level_weights(model: dict[str, Any]) -> dict[str, list[tuple[float, str]]]:
    """Comparison → (match weight, level key) of its levels that count as a reason.

    Splink's predictions carry each comparison's match weight (``mw_<comparison>``), not
    its level; with fixed m and u, each level's weight log2(m/u) is distinct and names it.
    """
    weights: dict[str, list[tuple[float, str]]] = {}
    for comparison in model["comparisons"]:
        levels = []
        for level in comparison["comparison_levels"]:
            key = level.get("label_for_charts", "")
            m, u = level.get("m_probability"), level.get("u_probability")
            if key in REASONS and m and u and not level.get("is_null_level"):
                levels.append((math.log2(m / u), key))
        weights[comparison["output_column_name"]] = levels
    return weights


def _reasons(row: dict[str, Any], weights: dict[str, list[tuple[float, str]]]) -> tuple[str, ...]:
    reasons = []
    for comparison, levels in weights.items():
        value = row.get(f"mw_{comparison}")
        if value is None:
            continue
        for weight, key in levels:
            if abs(float(value) - weight) < 1e-6:
                reasons.append(key)
                break
    return tuple(reasons)


def _as_table(rows_source: pa.Table | Iterable[RegistryRow]) -> pa.Table:
    return rows_source if isinstance(rows_source, pa.Table) else to_table(rows_source)


def run_linkage(
    rows_source: pa.Table | Iterable[RegistryRow],
    *,
    backend: str | None = None,
    threshold: float | None = None,
    model: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    classmates: bool = True,
) -> LinkageResult:
    """Score every blocked pair, add the classmates' evidence (``classmates_moved``;
    ``classmates=False`` leaves it out, for comparisons), keep the pairs at or above
    ``threshold`` (default: the deployment's, ``configured_threshold``), and cluster them.

    ``rows_source``: the linkage input (``extract.registry_table()``) or rows to build it.
    """
    backend = backend or settings.XUEJI["LINKAGE_BACKEND"]
    threshold = configured_threshold() if threshold is None else threshold
    say = progress or (lambda message: None)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    table = _as_table(rows_source)
    records = table.num_rows
    logging.getLogger("splink").setLevel(logging.WARNING)

    say(_("启动计算引擎（%(backend)s）") % {"backend": backend})
    db_api = _database_api(backend)
    seconds["engine"] = time.perf_counter() - started
    try:
        pairs, clusters = _link(db_api, table, threshold, model, seconds, say, classmates)
    finally:
        _release(db_api, backend)
    seconds["total"] = time.perf_counter() - started
    return LinkageResult(
        backend=backend,
        records=records,
        threshold=threshold,
        pairs=pairs,
        clusters=clusters,
        seconds={key: round(value, 3) for key, value in seconds.items()},
    )


def _release(db_api: Any, backend: str) -> None:
    """Free what the run held: the DuckDB database; Spark's cached tables and the run's
    intermediate tables on disk."""
    if backend == "duckdb":
        db_api.duckdb_con.close()
        return
    try:
        for name in db_api.spark.catalog.listTables():
            if name.isTemporary and name.name.startswith("__splink__"):
                db_api.spark.catalog.dropTempView(name.name)
        db_api.spark.catalog.clearCache()
    finally:
        shutil.rmtree(_spark_run_scratch, ignore_errors=True)
        _spark_run_lock.release()


def _link(
    db_api: Any,
    table: pa.Table,
    threshold: float,
    model: dict[str, Any] | None,
    seconds: dict[str, float],
    say: Callable[[str], None],
    classmates: bool = True,
) -> tuple[list[Pair], list[tuple[int, ...]]]:
    from splink import Linker

    records = table.num_rows

    mark = time.perf_counter()
    frame = db_api.register(table)
    linker = Linker(frame, settings_for(records, model=model), log_level=logging.WARNING)
    seconds["register"] = time.perf_counter() - mark

    mark = time.perf_counter()
    say(_("比对候选记录对（%(records)s 条记录）") % {"records": f"{records:,}"})
    # Down to where the classmates' evidence can lift a pair over the threshold.
    floor = (
        _probability(_weight(threshold) - CLASSMATES_WEIGHT)
        if classmates and threshold
        else threshold
    )
    rows = linker.inference.predict(threshold_match_probability=floor).as_record_list()
    seconds["predict"] = time.perf_counter() - mark

    mark = time.perf_counter()
    weights = _level_weights(linker.misc.save_model_to_json())
    scored = []
    for row in rows:
        id_l, id_r = sorted((int(row["unique_id_l"]), int(row["unique_id_r"])))
        scored.append(
            Pair(
                id_l=id_l,
                id_r=id_r,
                probability=float(row["match_probability"]),
                match_weight=float(row["match_weight"]),
                reasons=_reasons(row, weights),
            )
        )
    if classmates:
        scored = _with_classmates(scored, table, threshold)
    pairs = sorted(
        (pair for pair in scored if pair.probability >= threshold),
        key=lambda pair: (pair.id_l, pair.id_r),
    )
    say(_("聚类（%(pairs)s 对）") % {"pairs": f"{len(pairs):,}"})
    clusters = _clusters(pairs)
    seconds["cluster"] = time.perf_counter() - mark
    return pairs, clusters


def _with_classmates(pairs: list[Pair], table: pa.Table, threshold: float) -> list[Pair]:
    """``pairs`` with the classmates' evidence added where another pair, linked in its own
    right (at ``threshold``) and sharing no record with it, joins the same two schools.

    A pair below the threshold one of whose records is already linked in its own right is
    not lifted: that record's move is explained (on the benchmark registry, such lifts
    were all a second registration paired with a stranger of its first school)."""
    school_of = dict(
        zip(
            table.column("unique_id").to_pylist(),
            table.column("school_id").to_pylist(),
            strict=True,
        )
    )

    def schools(pair: Pair) -> tuple[int, int] | None:
        a, b = school_of.get(pair.id_l), school_of.get(pair.id_r)
        if a is None or b is None or a == b:
            return None
        return (a, b) if a < b else (b, a)

    linked: dict[tuple[int, int], list[Pair]] = {}
    explained: set[int] = set()
    for pair in pairs:
        if pair.probability >= threshold:
            explained.update((pair.id_l, pair.id_r))
            key = schools(pair)
            if key is not None:
                linked.setdefault(key, []).append(pair)
    result = []
    for pair in pairs:
        key = schools(pair)
        others = linked.get(key, []) if key is not None else []
        below = pair.probability < threshold
        if below and not explained.isdisjoint((pair.id_l, pair.id_r)):
            others = []
        if any({o.id_l, o.id_r}.isdisjoint((pair.id_l, pair.id_r)) for o in others):
            weight = pair.match_weight + CLASSMATES_WEIGHT
            pair = Pair(
                id_l=pair.id_l,
                id_r=pair.id_r,
                probability=_probability(weight),
                match_weight=weight,
                reasons=(*pair.reasons, "classmates_moved"),
            )
        result.append(pair)
    return result


def _clusters(pairs: Iterable[Pair]) -> list[tuple[int, ...]]:
    """Connected components of the pairs (records linked directly or through others)."""
    parent: dict[int, int] = {}

    def root(node: int) -> int:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for pair in pairs:
        a, b = root(pair.id_l), root(pair.id_r)
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for node in parent:
        groups.setdefault(root(node), []).append(node)
    return sorted(tuple(sorted(ids)) for ids in groups.values() if len(ids) > 1)


def estimate_u(table: pa.Table, *, seed: int = 20251, max_pairs: float = 1e7) -> dict[str, Any]:
    """Re-estimate the u probabilities from ``table`` by random sampling (seeded, on
    DuckDB). Returns a model, ``{"u": {level key: u}}``: save it as JSON and pass it to
    ``run_linkage(model=...)`` on either engine. m probabilities and the prior stay."""
    from splink import Linker

    db_api = _database_api("duckdb")
    linker = Linker(db_api.register(table), settings_for(table.num_rows), log_level=logging.WARNING)
    linker.training.estimate_u_using_random_sampling(max_pairs=max_pairs, seed=seed)
    fitted = linker.misc.save_model_to_json()
    _release(db_api, "duckdb")
    estimated: dict[str, float] = {}
    for comparison in fitted["comparisons"]:
        for level in comparison["comparison_levels"]:
            u = level.get("u_probability")
            if not level.get("is_null_level") and u is not None:
                estimated[level["label_for_charts"]] = float(u)
    return {"u": estimated, "seed": seed, "max_pairs": max_pairs, "records": table.num_rows}


def estimate_m(
    table: pa.Table, pairs: Iterable[tuple[int, int]], *, model: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Estimate the m probabilities from ``pairs`` of records known to be one person (the
    reviewers' merges, a clerical sample), both ids in ``table``. Returns ``model`` (or a
    new one) with ``"m"``: {level key: m}. Each comparison's shares among the pairs are
    smoothed towards the built-in m (``M_PRIOR_PAIRS``); ``FIXED_LEVELS`` keep theirs."""
    from splink import Linker

    labels = sorted({(min(a, b), max(a, b)) for a, b in pairs if a != b})
    if not labels:
        raise ValueError("no labelled pairs to estimate m from")
    db_api = _database_api("duckdb")
    try:
        linker = Linker(
            db_api.register(table),
            settings_for(table.num_rows, model=model),
            log_level=logging.WARNING,
        )
        built_in = _level_probabilities(linker.misc.save_model_to_json(), "m_probability")
        label_table = pa.table(
            {
                "source_dataset_l": ["__splink__input_table_0"] * len(labels),
                "unique_id_l": pa.array([a for a, _ in labels], type=pa.int64()),
                "source_dataset_r": ["__splink__input_table_0"] * len(labels),
                "unique_id_r": pa.array([b for _, b in labels], type=pa.int64()),
            }
        )
        registered = linker.table_management.register_table(
            label_table, "__xueji_labels", overwrite=True
        )
        linker.training.estimate_m_from_pairwise_labels(registered)
        measured = _level_probabilities(linker.misc.save_model_to_json(), "m_probability")
    finally:
        _release(db_api, "duckdb")
    estimated: dict[str, float] = {}
    n = len(labels)
    for comparison, levels in measured.items():
        prior = built_in[comparison]
        if levels == prior:
            continue  # no labelled pair reaches the comparison (all null): keep it
        # Splink leaves a level the labels never reach at its built-in m; the shares are
        # renormalised, so such a level keeps about its built-in weight.
        shares = {key: value or 0.0 for key, value in levels.items()}
        total = sum(shares.values()) or 1.0
        for key, share in shares.items():
            if key in FIXED_LEVELS:
                continue
            smoothed = (share / total * n + (prior.get(key) or 0.0) * M_PRIOR_PAIRS) / (
                n + M_PRIOR_PAIRS
            )
            estimated[key] = round(smoothed, 6)
    return {**(model or {}), "m": estimated, "m_pairs": n}


def _level_probabilities(fitted: dict[str, Any], which: str) -> dict[str, dict[str, float]]:
    """Comparison → {level key: probability} of its non-null levels."""
    return {
        comparison["output_column_name"]: {
            level["label_for_charts"]: level.get(which)
            for level in comparison["comparison_levels"]
            if not level.get("is_null_level")
        }
        for comparison in fitted["comparisons"]
    }
