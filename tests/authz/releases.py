"""Routes of data releases (xueji/releases).

Reading: the releases of the actor's subtree (``release.view``) and the ones it receives:
the list is for every signed-in account (filtered), one release for those in scope or its
recipient. Asking: ``release.request``. Reviewing: the requesting unit's reviewers;
approving: reviewers of an authority at county level or above holding the unit (the matrix's
in-scope reviewer is of the requesting county). Downloading: the named recipient alone (the
in-scope clerk here; everyone else 404, hence ``UNIT``, "the actor's own"). The approval
document: ``release.view`` in scope.
"""

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile

from tests.authz.vocab import LIST, NONE, OBJECT, SIGNED_IN, UNIT, Policy, Sample
from tests.factories import authority_user
from xueji import clock
from xueji.accounts.models import Role
from xueji.accounts.rules import Permission
from xueji.releases import services

V = Permission
PDF = b"%PDF-1.4\n%%EOF\n"


def _input(recipient: str, **overrides) -> services.ReleaseInput:
    values = {
        "purpose": "矩阵统计分析",
        "basis_kind": "law",
        "basis_law": "《中华人民共和国统计法》第七条",
        "fields": ["sex", "grade"],
        "recipient_organisation": "矩阵研究院",
        "recipient_username": recipient,
        "expires_on": clock.today() + timedelta(days=30),
    }
    values.update(overrides)
    return services.ReleaseInput(**values)


def setup(world) -> dict:
    recipient = world.actors["clerk_in"].username
    requester = authority_user("440106", roles=(Role.STATISTICIAN,))
    reviewer = authority_user("440106")
    approver = authority_user("440106")
    submitted = services.release_request(actor=requester, data=_input(recipient))
    reviewed = services.release_request(actor=requester, data=_input(recipient))
    services.release_review(actor=reviewer, release_id=reviewed.pk, decision="pass")
    generated = services.release_request(actor=requester, data=_input(recipient))
    services.release_review(actor=reviewer, release_id=generated.pk, decision="pass")
    services.release_approve(actor=approver, release_id=generated.pk, decision="approve")
    government = services.release_request(
        actor=requester,
        data=_input(
            recipient,
            basis_kind="government",
            basis_law="",
            basis_authority="广州市天河区人民政府",
            basis_level="county",
            basis_document_no="天府批〔2026〕1号",
        ),
        document=SimpleUploadedFile("批复.pdf", PDF, "application/pdf"),
    )
    return {
        "release_submitted": submitted.pk,
        "release_reviewed": reviewed.pk,
        "release_generated": generated.pk,
        "release_government": government.pk,
    }


def _request_body(world) -> dict:
    return {
        "purpose": "矩阵接口申请",
        "basis_kind": "law",
        "basis_law": "《中华人民共和国统计法》第七条",
        "kind": "table",
        "fields": "sex,grade",
        "recipient_organisation": "矩阵研究院",
        "recipient_username": world.actors["clerk_in"].username,
        "expires_on": (clock.today() + timedelta(days=10)).isoformat(),
    }


POLICY: dict[str, Policy] = {
    # -- pages ---------------------------------------------------------------------------
    "releases:list": Policy("releases/", SIGNED_IN, LIST, sample=Sample("GET", "/releases/")),
    "releases:new": Policy(
        "releases/new/",
        V.RELEASE_REQUEST,
        NONE,
        methods=("GET", "POST"),
        sample=Sample("GET", "/releases/new/"),
    ),
    "releases:detail": Policy(
        "releases/<int:release_id>/",
        SIGNED_IN,
        OBJECT,
        sample=Sample("GET", "/releases/{release_generated}/"),
    ),
    "releases:review": Policy(
        "releases/<int:release_id>/review/",
        V.RELEASE_REVIEW,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/releases/{release_submitted}/review/",
            lambda w: {"decision": "pass", "note": ""},
            multipart=True,
            ok=302,
        ),
    ),
    "releases:approve": Policy(
        "releases/<int:release_id>/approve/",
        V.RELEASE_APPROVE,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST",
            "/releases/{release_reviewed}/approve/",
            lambda w: {"decision": "approve", "note": ""},
            multipart=True,
            ok=302,
        ),
    ),
    "releases:download": Policy(
        "releases/<int:release_id>/download/",
        SIGNED_IN,
        UNIT,
        sample=Sample("GET", "/releases/{release_generated}/download/"),
    ),
    "releases:basis": Policy(
        "releases/<int:release_id>/basis/",
        V.RELEASE_VIEW,
        OBJECT,
        sample=Sample("GET", "/releases/{release_government}/basis/"),
    ),
    # -- the API -------------------------------------------------------------------------
    "api:list_releases": Policy(
        "api/releases", SIGNED_IN, LIST, sample=Sample("GET", "/api/releases")
    ),
    "api:request_release": Policy(
        "api/releases",
        V.RELEASE_REQUEST,
        NONE,
        methods=("POST",),
        sample=Sample("POST", "/api/releases", _request_body, multipart=True, ok=201),
    ),
    "api:get_release": Policy(
        "api/releases/<int:release_id>",
        SIGNED_IN,
        OBJECT,
        sample=Sample("GET", "/api/releases/{release_generated}"),
    ),
    "api:review_release": Policy(
        "api/releases/<int:release_id>/review",
        V.RELEASE_REVIEW,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST", "/api/releases/{release_submitted}/review", lambda w: {"decision": "pass"}
        ),
    ),
    "api:approve_release": Policy(
        "api/releases/<int:release_id>/approval",
        V.RELEASE_APPROVE,
        OBJECT,
        methods=("POST",),
        sample=Sample(
            "POST", "/api/releases/{release_reviewed}/approval", lambda w: {"decision": "approve"}
        ),
    ),
    "api:download_release": Policy(
        "api/releases/<int:release_id>/file",
        SIGNED_IN,
        UNIT,
        sample=Sample("GET", "/api/releases/{release_generated}/file"),
    ),
    "api:release_basis_document": Policy(
        "api/releases/<int:release_id>/basis-document",
        V.RELEASE_VIEW,
        OBJECT,
        sample=Sample("GET", "/api/releases/{release_government}/basis-document"),
    ),
    "api:publication_check": Policy(
        "api/releases/publication-check",
        SIGNED_IN,
        NONE,
        methods=("POST",),
        sample=Sample(
            "POST", "/api/releases/publication-check", lambda w: {"kind": "table", "cells": [9]}
        ),
    ),
}
