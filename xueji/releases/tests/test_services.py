"""The release pipeline: request, review, approval (refused without a valid basis or below
county level), the set-based generation with its k-anonymity, the recipient-only download."""

from collections import Counter
from datetime import timedelta

import pytest

from tests import factories
from xueji import clock
from xueji.accounts.models import Role
from xueji.audit.models import AuditEvent
from xueji.errors import Conflict, Forbidden, NotFound, ValidationFailed
from xueji.releases import services
from xueji.releases.errors import BasisInvalid, ReleaseRefused
from xueji.releases.models import DataRelease
from xueji.releases.rules import ReleaseState

from .conftest import law_request, pdf, populate, read_rows, through_pipeline


def _codes(error) -> set[str]:
    return {e.code for e in error.value.errors}


# ---------------------------------------------------------------- request


def test_request_records_purpose_basis_fields_population_recipient_and_expiry(staff):
    # when
    release = services.release_request(
        actor=staff["requester"], data=law_request(staff, grades=["13"], states=["enrolled"])
    )
    # then
    release.refresh_from_db()
    assert release.state == ReleaseState.SUBMITTED
    assert release.unit_id == staff["requester"].unit_id
    assert release.basis_law == "《中华人民共和国统计法》第七条"
    assert release.fields == ["sex", "birth", "grade"]
    assert (release.scope_prefix, release.scope_school_id) == ("440106", None)
    assert release.filters == {"stages": [], "grades": ["13"], "states": ["enrolled"]}
    assert (release.k, release.threshold) == (5, 5)
    assert release.recipient_id == staff["recipient"].pk
    assert release.recipient_organisation == "某市教育科学研究院"
    event = AuditEvent.objects.get(action="release.request", object_id=str(release.pk))
    assert event.detail["recipient"] == staff["recipient"].username


def test_request_without_a_valid_basis_is_refused_on_each_field(staff):
    with pytest.raises(ValidationFailed) as error:
        services.release_request(
            actor=staff["requester"], data=law_request(staff, basis_law="统计需要")
        )
    assert _codes(error) == {"release.basis_law_article"}
    with pytest.raises(ValidationFailed) as error:
        services.release_request(
            actor=staff["requester"],
            data=law_request(
                staff,
                basis_kind="government",
                basis_law="",
                basis_authority="某某镇人民政府",
                basis_level="township",
                basis_document_no="",
            ),
        )
    assert _codes(error) == {
        "release.basis_below_county",
        "release.basis_document_no",
        "release.basis_document_missing",
    }
    assert not DataRelease.objects.exists()


def test_request_with_a_county_government_approval_document_is_accepted(staff):
    release = services.release_request(
        actor=staff["requester"],
        data=law_request(
            staff,
            basis_kind="government",
            basis_law="",
            basis_authority="广州市天河区人民政府",
            basis_level="county",
            basis_document_no="天府批〔2026〕12号",
        ),
        document=pdf(),
    )
    assert release.basis_document.name.endswith(".pdf")
    assert release.basis_document_type == "application/pdf"
    assert len(release.basis_document_sha256) == 64


def test_request_below_minimum_k_or_past_expiry_is_refused(staff):
    with pytest.raises(ValidationFailed) as error:
        services.release_request(
            actor=staff["requester"],
            data=law_request(staff, k=3, threshold=2, expires_on=clock.today() - timedelta(days=1)),
        )
    assert _codes(error) == {"release.k_range", "release.threshold_range", "release.expiry_past"}


def test_request_needs_the_permission_and_a_population_in_scope(staff, school, other_school):
    clerk = factories.make_user(school.unit)
    with pytest.raises(Forbidden):
        services.release_request(actor=clerk, data=law_request(staff))
    with pytest.raises(NotFound):
        services.release_request(
            actor=staff["requester"], data=law_request(staff, school_code=other_school.code)
        )
    release = services.release_request(
        actor=staff["requester"], data=law_request(staff, school_code=school.code)
    )
    assert release.scope_school_id == school.pk


# ---------------------------------------------------------------- review and approval


def test_review_is_for_the_requesting_units_reviewer_other_than_the_requester(staff):
    release = services.release_request(actor=staff["requester"], data=law_request(staff))
    city_reviewer = factories.authority_user("440100")
    with pytest.raises(ReleaseRefused) as error:
        services.release_review(actor=city_reviewer, release_id=release.pk, decision="pass")
    assert error.value.code == "release.reviewer_other_unit"
    # A reviewer who asked for it may not review it.
    own = services.release_request(actor=staff["reviewer"], data=law_request(staff))
    with pytest.raises(ReleaseRefused) as error:
        services.release_review(actor=staff["reviewer"], release_id=own.pk, decision="pass")
    assert error.value.code == "release.reviewer_is_requester"
    # Out of scope: not found.
    with pytest.raises(NotFound):
        services.release_review(
            actor=factories.authority_user("510104"), release_id=release.pk, decision="pass"
        )


def test_approval_names_the_approver_and_generates_the_file(staff, school):
    populate(school, [("1", 2016, "13")] * 6)
    release = through_pipeline(staff)
    release.refresh_from_db()
    assert release.state == ReleaseState.GENERATED
    assert release.approved_by_id == staff["approver"].pk
    assert release.approver_name == staff["approver"].username
    assert release.approver_unit_id == staff["approver"].unit_id
    assert (release.population_count, release.row_count, release.suppressed_count) == (6, 6, 0)
    actions = list(
        AuditEvent.objects.filter(object_type="releases.release", object_id=str(release.pk))
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "release.request",
        "release.review",
        "release.approve",
        "release.generate",
    ]


def test_approval_is_refused_without_a_valid_basis(staff):
    release = services.release_request(actor=staff["requester"], data=law_request(staff))
    services.release_review(actor=staff["reviewer"], release_id=release.pk, decision="pass")
    # The basis lost (a row written before the rule, say): the approver may not approve it.
    DataRelease.objects.filter(pk=release.pk).update(basis_law="按工作需要")
    with pytest.raises(BasisInvalid) as error:
        services.release_approve(actor=staff["approver"], release_id=release.pk, decision="approve")
    assert error.value.code == "release.basis_invalid"
    assert _codes(error) == {"release.basis_law_article"}
    release.refresh_from_db()
    assert (release.state, release.approved_by_id) == (ReleaseState.REVIEWED, None)
    assert not AuditEvent.objects.filter(action="release.approve").exists()


def test_approval_is_refused_without_the_uploaded_government_document(staff):
    release = services.release_request(
        actor=staff["requester"],
        data=law_request(
            staff,
            basis_kind="government",
            basis_law="",
            basis_authority="广州市天河区人民政府",
            basis_level="county",
            basis_document_no="天府批〔2026〕12号",
        ),
        document=pdf(),
    )
    services.release_review(actor=staff["reviewer"], release_id=release.pk, decision="pass")
    DataRelease.objects.filter(pk=release.pk).update(basis_document="")
    with pytest.raises(BasisInvalid) as error:
        services.release_approve(actor=staff["approver"], release_id=release.pk, decision="approve")
    assert _codes(error) == {"release.basis_document_missing"}


def test_approval_is_refused_by_a_unit_below_county_level(school):
    # given: a school's own staff (a statistician asks, a reviewer of the school reviews)
    requester = factories.make_user(school.unit, roles=(Role.STATISTICIAN,))
    reviewer = factories.make_user(school.unit, roles=(Role.REVIEWER,))
    school_head = factories.make_user(school.unit, roles=(Role.REVIEWER,))
    recipient = factories.authority_user("440106", roles=(Role.STATISTICIAN,))
    release = services.release_request(actor=requester, data=law_request({"recipient": recipient}))
    services.release_review(actor=reviewer, release_id=release.pk, decision="pass")
    # when / then: the school may not approve; the county above may
    with pytest.raises(ReleaseRefused) as error:
        services.release_approve(actor=school_head, release_id=release.pk, decision="approve")
    assert error.value.code == "release.approver_below_county"
    county = factories.authority_user("440106")
    approved = services.release_approve(actor=county, release_id=release.pk, decision="approve")
    assert approved.state == ReleaseState.GENERATED
    assert approved.approver_unit.kind == "county"


def test_approval_is_refused_to_the_requester_and_the_reviewer(staff):
    release = services.release_request(actor=staff["reviewer"], data=law_request(staff))
    services.release_review(actor=staff["approver"], release_id=release.pk, decision="pass")
    for actor in (staff["reviewer"], staff["approver"]):
        with pytest.raises(ReleaseRefused) as error:
            services.release_approve(actor=actor, release_id=release.pk, decision="approve")
        assert error.value.code == "release.approver_not_independent"


def test_approval_before_review_conflicts_and_refusal_needs_a_reason(staff):
    release = services.release_request(actor=staff["requester"], data=law_request(staff))
    with pytest.raises(Conflict) as error:
        services.release_approve(actor=staff["approver"], release_id=release.pk, decision="approve")
    assert error.value.code == "release.state"
    with pytest.raises(ValidationFailed):
        services.release_review(actor=staff["reviewer"], release_id=release.pk, decision="reject")
    refused = services.release_review(
        actor=staff["reviewer"], release_id=release.pk, decision="reject", note="用途不明确"
    )
    assert (refused.state, refused.rejection_reason) == (ReleaseState.REJECTED, "用途不明确")


# ---------------------------------------------------------------- generation


def test_row_level_release_is_k_anonymous_counting_the_groups(staff, school):
    # given: groups of 7, 5, 4, 1 and 3 people over (sex, birth year, grade)
    people = (
        [("1", 2016, "13")] * 7
        + [("2", 2016, "13")] * 5
        + [("1", 2015, "14")] * 4
        + [("2", 2015, "14")] * 1
        + [("1", 2014, "15")] * 3
    )
    populate(school, people)
    # when
    release = through_pipeline(staff)
    # then: every combination of the released fields covers at least k = 5 rows
    headers, rows = read_rows(release)
    assert headers == ["编号", "性别", "出生年份", "年级"]
    groups = Counter(tuple(row[1:]) for row in rows)
    assert groups == {("1", "2016", "13"): 7, ("2", "2016", "13"): 5}
    assert min(groups.values()) >= release.k
    assert (release.population_count, release.row_count, release.suppressed_count) == (20, 12, 8)
    # pseudonyms are distinct and carry no student number or name
    assert len({row[0] for row in rows}) == 12
    assert all(row[0].startswith("P") and len(row[0]) == 15 for row in rows)


def test_k_is_a_setting_and_a_request_may_ask_for_more(staff, school, settings):
    populate(school, [("1", 2016, "13")] * 7 + [("2", 2016, "13")] * 5)
    settings.XUEJI = {**settings.XUEJI, "RELEASE_MIN_K": 6}
    release = through_pipeline(staff)
    assert release.k == 6
    _headers, rows = read_rows(release)
    assert Counter(tuple(r[1:]) for r in rows) == {("1", "2016", "13"): 7}
    higher = through_pipeline(staff, law_request(staff, k=8))
    assert (higher.row_count, higher.suppressed_count) == (0, 12)


def test_dropped_identifiers_and_five_year_birth_bands(staff, school):
    populate(school, [("1", 2013, "15")] * 3 + [("1", 2016, "15")] * 2 + [("2", 2016, "13")])
    release = through_pipeline(
        staff,
        law_request(staff, identifiers="drop", birth="five_years", fields=["sex", "birth"], k=5),
    )
    headers, rows = read_rows(release)
    assert headers == ["性别", "出生年份"]
    # 2013 and 2016 both fall in 2010-2014 / 2015-2019: the 2015-2019 male group has 2 only.
    assert Counter(tuple(r) for r in rows) == {}
    assert release.suppressed_count == 6
    wider = through_pipeline(
        staff,
        law_request(staff, identifiers="drop", birth="five_years", fields=["sex"], k=5),
    )
    _headers, rows = read_rows(wider)
    assert Counter(tuple(r) for r in rows) == {("1",): 5}
    populate(school, [("2", 2017, "12")] * 5)
    banded = through_pipeline(
        staff, law_request(staff, identifiers="drop", birth="five_years", fields=["birth"], k=5)
    )
    _headers, rows = read_rows(banded)
    assert Counter(tuple(r) for r in rows) == {("2015-2019",): 8}


def test_table_release_suppresses_cells_under_the_threshold(staff, school):
    populate(school, [("1", 2016, "13")] * 9 + [("2", 2016, "13")] * 4 + [("2", 2015, "14")] * 5)
    release = through_pipeline(staff, law_request(staff, kind="table", fields=["sex", "grade"]))
    headers, rows = read_rows(release)
    assert headers == ["性别", "年级", "人数"]
    assert sorted(rows) == [["1", "13", "9"], ["2", "13", "<5"], ["2", "14", "5"]]
    assert (release.population_count, release.suppressed_count) == (18, 1)


def test_generation_follows_scope_and_filters(staff, school):
    neighbour = factories.SchoolFactory(division_code="440106")
    elsewhere = factories.SchoolFactory(division_code="440104")
    populate(school, [("1", 2016, "13")] * 5)
    populate(neighbour, [("1", 2016, "13")] * 5 + [("1", 2016, "14")] * 6)
    populate(elsewhere, [("1", 2016, "13")] * 9)
    populate(school, [("1", 2016, "13")] * 5, state="graduated")
    release = through_pipeline(staff, law_request(staff, grades=["13"], states=["enrolled"]))
    assert (release.population_count, release.row_count) == (10, 10)
    one_school = through_pipeline(staff, law_request(staff, school_code=neighbour.code))
    assert one_school.population_count == 11


# ---------------------------------------------------------------- download


def test_only_the_recipient_downloads_each_time_audited(staff, school):
    populate(school, [("1", 2016, "13")] * 5)
    release = through_pipeline(staff)
    _opened, handle = services.release_download_open(
        actor=staff["recipient"], release_id=release.pk
    )
    with handle:
        assert handle.read().decode("utf-8-sig").startswith("# 数据发布 " + release.reference)
    for outsider in (staff["requester"], staff["approver"], factories.authority_user("440000")):
        with pytest.raises(NotFound):
            services.release_download_open(actor=outsider, release_id=release.pk)
    downloads = AuditEvent.objects.filter(action="release.download", object_id=str(release.pk))
    assert list(downloads.values_list("actor_id", flat=True)) == [staff["recipient"].pk]
    refused = AuditEvent.objects.filter(
        action="release.download_refused", object_id=str(release.pk)
    ).order_by("pk")
    assert [(e.actor_id, e.detail["reason"]) for e in refused] == [
        (staff["requester"].pk, "not_recipient"),
        (staff["approver"].pk, "not_recipient"),
        (refused[2].actor_id, "not_recipient"),
    ]


def test_download_after_expiry_is_refused_and_audited(staff, school, monkeypatch):
    populate(school, [("1", 2016, "13")] * 5)
    release = through_pipeline(staff)
    # on the expiry date itself it still works
    monkeypatch.setattr(clock, "today", lambda: release.expires_on)
    services.release_download_open(actor=staff["recipient"], release_id=release.pk)[1].close()
    monkeypatch.setattr(clock, "today", lambda: release.expires_on + timedelta(days=1))
    with pytest.raises(ReleaseRefused) as error:
        services.release_download_open(actor=staff["recipient"], release_id=release.pk)
    assert error.value.code == "release.expired"
    refused = AuditEvent.objects.get(action="release.download_refused", object_id=str(release.pk))
    assert (refused.actor_id, refused.detail["reason"]) == (staff["recipient"].pk, "expired")
    assert AuditEvent.objects.filter(action="release.download").count() == 1


def test_download_before_generation_conflicts(staff):
    release = services.release_request(actor=staff["requester"], data=law_request(staff))
    with pytest.raises(Conflict) as error:
        services.release_download_open(actor=staff["recipient"], release_id=release.pk)
    assert error.value.code == "release.not_generated"


# ---------------------------------------------------------------- publication (item 5)


def test_aggregates_above_the_threshold_publish_directly_anything_else_needs_a_release():
    assert services.publication_check(kind="table", cells=[5, 12, 40]).route == "direct"
    assert services.publication_check(kind="table", cells=[5, 4]).route == "release"
    assert services.publication_check(kind="rows", cells=[100]).route == "release"
    services.publication_require_direct(kind="table", cells=[6, 7])
    with pytest.raises(Conflict) as error:
        services.publication_require_direct(kind="table", cells=[6, 1])
    assert error.value.code == "release.required"
