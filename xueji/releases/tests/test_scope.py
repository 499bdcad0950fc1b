"""Each level sees every release of its subtree and nothing outside it; a recipient sees its
own received releases wherever they come from, and nothing else without ``release.view``."""

import pytest

from tests import factories
from xueji.accounts.models import Role
from xueji.accounts.services import unit_ensure_national
from xueji.errors import NotFound
from xueji.releases import selectors, services
from xueji.releases.permissions import access_release

from .conftest import law_request


@pytest.fixture
def tree(school, other_school):
    """A release asked for by each of: a school (天河), its county, a neighbouring county,
    the city, the province, and another province's school (锦江)."""
    recipient = factories.authority_user("510104", roles=(Role.STATISTICIAN,))
    askers = {
        "school": factories.make_user(school.unit, roles=(Role.STATISTICIAN,)),
        "county": factories.authority_user("440106", roles=(Role.STATISTICIAN,)),
        "neighbour": factories.authority_user("440104", roles=(Role.STATISTICIAN,)),
        "city": factories.authority_user("440100", roles=(Role.STATISTICIAN,)),
        "province": factories.authority_user("440000", roles=(Role.STATISTICIAN,)),
        "other": factories.make_user(other_school.unit, roles=(Role.STATISTICIAN,)),
    }
    releases = {
        name: services.release_request(actor=user, data=law_request({"recipient": recipient})).pk
        for name, user in askers.items()
    }
    return askers, releases, recipient


# Which askers' releases each viewer's subtree holds.
SEES = {
    "school": {"school"},
    "county": {"school", "county"},
    "neighbour": {"neighbour"},
    "city": {"school", "county", "neighbour", "city"},
    "province": {"school", "county", "neighbour", "city", "province"},
    "other": {"other"},
}


@pytest.mark.parametrize("viewer", sorted(SEES))
def test_each_level_sees_exactly_its_subtree(tree, viewer):
    askers, releases, _recipient = tree
    user = askers[viewer]
    listed = set(selectors.release_list(user).values_list("pk", flat=True))
    assert listed == {releases[name] for name in SEES[viewer]}
    for name, release_id in releases.items():
        if name in SEES[viewer]:
            assert access_release(user, release_id=release_id).pk == release_id
        else:
            with pytest.raises(NotFound):
                access_release(user, release_id=release_id)


def test_the_nation_sees_every_release(tree):
    _askers, releases, _recipient = tree
    nation = factories.make_user(unit_ensure_national(), roles=(Role.REVIEWER,))
    assert set(selectors.release_list(nation).values_list("pk", flat=True)) == set(
        releases.values()
    )


def test_recipient_reads_its_received_releases_and_a_clerk_no_list(tree, school):
    _askers, releases, recipient = tree
    # The recipient's own county (锦江) holds only "other"; it receives all six.
    assert set(selectors.releases_visible(recipient).values_list("pk", flat=True)) == set(
        releases.values()
    )
    clerk = factories.make_user(school.unit)
    assert not selectors.release_list(clerk).exists()
    assert not selectors.releases_visible(clerk).exists()
    with pytest.raises(NotFound):
        access_release(clerk, release_id=releases["school"])
