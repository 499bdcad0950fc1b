"""The credential benchmark runs end to end on a few students: figures, never timings."""

import pytest

from bench import credential_bench
from xueji.credentials import services
from xueji.credentials.keys import new_private_jwk
from xueji.credentials.models import Credential, CredentialState

pytestmark = pytest.mark.django_db(transaction=True)


def _quiet(message: str) -> None:
    pass


def test_credential_benchmark_issues_verifies_and_revokes(settings):
    settings.XUEJI_CREDENTIAL_KEYS = [
        {"kid": "bench", "alg": "ES256", "jwk": new_private_jwk("ES256"), "state": "active"}
    ]
    services._VERIFIER.clear()
    sizes = credential_bench.Sizes(rows=30, revocations=10, verifications=5)
    ids = credential_bench.prepare(sizes, log=_quiet)
    result = credential_bench.measure(sizes, ids, log=_quiet)
    assert result["issued"] == 30 and result["revoked"] == 10
    assert result["verifications"] == 15
    assert result["bare_per_s"] > 0 and result["warm_per_s"] > 0 and result["cold_per_s"] > 0
    assert result["lists"] == 1 and result["list_token_bytes"] > 0
    states = list(Credential.objects.order_by("student_id").values_list("state", flat=True))
    assert states == [CredentialState.REVOKED] * 10 + [CredentialState.VALID] * 20


def test_docs_section_is_replaced_and_other_sections_stay(tmp_path):
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\n## Import benchmark\n\nits figures\n", encoding="utf-8")
    entry = {
        "target": "sqlite",
        "rows": 1000,
        "run_at": "2026-01-01T10:00:00+08:00",
        "command": "python -m bench.credential_bench --rows 1000",
        "machine": {"cpu": "cpu", "cores": 2, "memory": "1 GB", "os": "Linux", "python": "3"},
        "database_version": "SQLite 3",
        "issued": 1000,
        "issue_seconds": 2.0,
        "issue_per_s": 500.0,
        "presentation_chars": 1400,
        "verifications": 300,
        "bare_per_s": 1000.0,
        "warm_per_s": 700.0,
        "cold_per_s": 400.0,
        "warm_over_bare": 0.7,
        "cold_over_bare": 0.4,
        "revoked": 100,
        "revoke_seconds": 0.1,
        "lists": 1,
        "list_capacity": 131072,
        "publish_seconds": 0.05,
        "list_token_bytes": 500,
        "load_average": [0.5, 0.6],
    }
    credential_bench.update_docs([entry], path=docs)
    credential_bench.update_docs([{**entry, "issue_per_s": 600.0}], path=docs)
    text = docs.read_text(encoding="utf-8")
    assert text.count(credential_bench.SECTION_START) == 1
    assert "## Import benchmark\n\nits figures" in text
    assert "| 2026-01-01 | SQLite 3 | 1,000 | 600 | 1,000 | 700 | 0.70× | 400 | 0.40× |" in text
    assert "target met (warm)" in text
