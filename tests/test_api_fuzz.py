"""A bounded schemathesis pass over the whole OpenAPI document in every test run (issue 11,
item 17): every operation, valid and invalid data, a school clerk's token on a small
generated demo registry. Any server error or schema violation fails the suite; the full
pass (≥ 10,000 cases a database) is ``python -m bench.api_fuzz`` (docs/benchmarks.md).

The seed is fixed, so a run draws the same cases as the one before it: a failure here is
reproduced by running this test again.
"""

import pytest
from django.core.management import call_command

from bench.api_fuzz import fuzz
from xueji.accounts.models import User
from xueji.accounts.tokens import api_token_issue

pytestmark = pytest.mark.django_db

EXAMPLES = 2  # per operation and generation mode: about 360 cases
SEED = 20261


def test_every_fuzzed_request_is_answered_as_the_document_says():
    call_command("generate_demo", students=60, if_empty=True, verbosity=0)
    clerk = User.objects.get(username="demo-school")
    token = api_token_issue(
        actor=clerk, user=clerk, name="fuzz", expires_at=None, rate_per_minute=1_000_000
    ).secret

    result = fuzz(token=token, examples=EXAMPLES, seed=SEED)

    assert result.operations >= 90
    assert result.cases >= 300
    assert result.server_errors == 0, "\n".join(result.failures)
    assert result.violations == 0, "\n".join(result.failures)
