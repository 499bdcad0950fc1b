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
month. Two records that both carry an ID of the same type with different numbers are
almost always two people (twins share surname, birth date, guardian, birthplace and
school): that comparison is the strongest evidence against a match.
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

DEFAULT_THRESHOLD: float = LINKAGE_DEFAULTS["ANOMALY_LINKAGE_THRESHOLD"]
# Prior: the share of records that are a second registration of someone already in the
# registry (about as many duplicate pairs). The probability that two random records match
# is derived from it and the record count, so a county and the nation get the same
# calibration.
EXPECTED_DUPLICATE_SHARE = 0.01
BACKENDS = ("duckdb", "spark")

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
    "birth_date_day": gettext_noop("出生年月相同（日不同）"),
    "birth_date_year": gettext_noop("出生月日相同（年不同）"),
    "sex_same": gettext_noop("性别相同"),
    "id_same": gettext_noop("身份证件号相同"),
    "guardian_same": gettext_noop("监护人身份证件号相同"),
    "birthplace_same": gettext_noop("出生地相同"),
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


def comparisons(u_estimates: dict[str, float] | None = None) -> list[Any]:
    """The comparisons, each level with its m (share among duplicates) and u (share among
    other pairs), named by a key (a reason code where the level is evidence for a match).
    ``u_estimates`` (key → u, from ``estimate_u``) replaces the built-in u values."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import ColumnExpression

    def _level(creator: Any, *, m: float, u: float, key: str, tf: str | None = None) -> Any:
        options: dict[str, Any] = {
            "m_probability": m,
            "u_probability": (u_estimates or {}).get(key, u),
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
            _level(
                cll.And(cll.ExactMatchLevel("birth_year"), cll.ExactMatchLevel("birth_month")),
                m=0.025,
                u=0.0065,
                key="birth_date_day",
            ),
            _level(
                cll.And(cll.ExactMatchLevel("birth_month"), cll.ExactMatchLevel("birth_day")),
                m=0.015,
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
            # without an ID or under another document. The weight (log2 m/u ≈ -16.6)
            # outweighs what twins share besides (surname, birth date, guardian,
            # birthplace, school: about +38), which no name similarity may undo.
            _level(cll.ElseLevel(), m=1e-5, u=0.999999, key="id_differs"),
        ],
    )
    guardian = cl.CustomComparison(
        output_column_name="guardian",
        comparison_levels=[
            cll.NullLevel("guardian_key"),
            # Brothers and sisters share a guardian too: u is set well above the share of
            # random pairs that are siblings, since siblings also share surname and area.
            _level(cll.ExactMatchLevel("guardian_key"), m=0.85, u=0.003, key="guardian_same"),
            # The other parent registered the child.
            _level(cll.ElseLevel(), m=0.15, u=0.999, key="guardian_differs"),
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
            _level(cll.ExactMatchLevel("area_code"), m=0.45, u=0.02, key="area_same"),
            _level(cll.ExactMatchLevel("province_code"), m=0.35, u=0.1, key="area_province"),
            _level(cll.ElseLevel(), m=0.2, u=0.88, key="area_other"),
        ],
    )
    return [surname, given, birth_date, sex, id_document, guardian, birthplace, area]


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
        # The same guardian (brothers and sisters come in too, and are scored apart).
        block_on("guardian_key"),
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
        comparisons=comparisons((model or {}).get("u")),
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
    threshold: float = DEFAULT_THRESHOLD,
    model: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> LinkageResult:
    """Score every blocked pair, keep those at or above ``threshold``, and cluster them.

    ``rows_source``: the linkage input (``extract.registry_table()``) or rows to build it.
    """
    backend = backend or settings.XUEJI["LINKAGE_BACKEND"]
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
        pairs, clusters = _link(db_api, table, threshold, model, seconds, say)
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
) -> tuple[list[Pair], list[tuple[int, ...]]]:
    from splink import Linker

    records = table.num_rows

    mark = time.perf_counter()
    frame = db_api.register(table)
    linker = Linker(frame, settings_for(records, model=model), log_level=logging.WARNING)
    seconds["register"] = time.perf_counter() - mark

    mark = time.perf_counter()
    say(_("比对候选记录对（%(records)s 条记录）") % {"records": f"{records:,}"})
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    rows = predictions.as_record_list()
    seconds["predict"] = time.perf_counter() - mark

    mark = time.perf_counter()
    say(_("聚类（%(pairs)s 对）") % {"pairs": f"{len(rows):,}"})
    clusters = _clusters(linker, predictions, threshold) if rows else []
    seconds["cluster"] = time.perf_counter() - mark

    weights = _level_weights(linker.misc.save_model_to_json())
    pairs = []
    for row in rows:
        id_l, id_r = sorted((int(row["unique_id_l"]), int(row["unique_id_r"])))
        pairs.append(
            Pair(
                id_l=id_l,
                id_r=id_r,
                probability=float(row["match_probability"]),
                match_weight=float(row["match_weight"]),
                reasons=_reasons(row, weights),
            )
        )
    pairs.sort(key=lambda pair: (pair.id_l, pair.id_r))
    return pairs, clusters


def _clusters(linker: Any, predictions: Any, threshold: float) -> list[tuple[int, ...]]:
    """Connected components at the threshold (Splink's clustering), two or more members."""
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=threshold
    )
    members = clustered.query_sql(
        "SELECT cluster_id, unique_id FROM {this} WHERE cluster_id IN ("
        " SELECT cluster_id FROM {this} GROUP BY cluster_id HAVING COUNT(*) > 1)"
    ).as_record_list()
    groups: dict[Any, list[int]] = {}
    for member in members:
        groups.setdefault(member["cluster_id"], []).append(int(member["unique_id"]))
    return sorted(tuple(sorted(ids)) for ids in groups.values())


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
