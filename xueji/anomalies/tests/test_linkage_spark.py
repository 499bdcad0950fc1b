"""The same Splink job on Apache Spark (local mode) gives the same pairs as on DuckDB."""

import os

import pytest

from xueji.anomalies import linkage
from xueji.anomalies.extract import to_table

from .planted import clean_rows, plant_duplicates

pytestmark = [
    pytest.mark.spark,
    # The job reads no database: run it once, in the SQLite pass of ``make test``, not
    # again in the PostgreSQL pass (Spark's start-up alone takes most of a minute).
    pytest.mark.skipif(
        bool(os.environ.get("XUEJI_TEST_DATABASE_URL")), reason="database-independent; run once"
    ),
]


def test_duckdb_and_spark_give_the_same_pairs_and_clusters():
    # given
    rows = clean_rows(300)
    added, planted = plant_duplicates(rows)
    table = to_table(rows + added)

    # when
    on_duckdb = linkage.run_linkage(table, backend="duckdb")
    on_spark = linkage.run_linkage(table, backend="spark")

    # then
    assert on_spark.backend == "spark"
    assert {(p.id_l, p.id_r) for p in on_spark.pairs} == {(p.id_l, p.id_r) for p in on_duckdb.pairs}
    assert {(p.id_l, p.id_r) for p in on_spark.pairs} == planted
    assert [p.reasons for p in on_spark.pairs] == [p.reasons for p in on_duckdb.pairs]
    for spark_pair, duckdb_pair in zip(on_spark.pairs, on_duckdb.pairs, strict=True):
        assert spark_pair.probability == pytest.approx(duckdb_pair.probability, abs=1e-9)
    assert on_spark.clusters == on_duckdb.clusters
