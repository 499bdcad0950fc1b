"""The holder's pages in the guardian portal (phone first): get the credential, download it
as a file, and show a presentation of chosen claims as a QR code for a verifier's nonce
and audience. Behind the portal's sign-in (``guardian_page``)."""

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from xueji.errors import ValidationFailed
from xueji.portal.actor import GuardianActor
from xueji.portal.views import guardian_page
from xueji.web.views import HtmxHttpRequest

from . import selectors, services
from .claims import claim_label, claim_value
from .forms import PresentForm
from .qrimage import qr_data_uri
from .rules import DISCLOSABLE


def _facts_rows(credential) -> list[tuple[str, str]]:
    facts = credential.facts
    keys = {
        "student_number": "student_number",
        "name": "name",
        "school.code": "school_code",
        "school.name": "school_name",
        "stage": "stage",
        "grade": "grade",
        "enrolment_status": "enrolment_status",
    }
    return [
        (claim_label(path), claim_value(path, facts.get(key, "")))
        for path, key in keys.items()
        if path not in ("student_number", "name", "school.code")
    ]


def _page(request, guardian, form: PresentForm, *, status: int = 200) -> HttpResponse:
    credential = selectors.holder_credential(guardian)
    context = {
        "portal_signed_in": True,
        "credential": credential,
        "rows": _facts_rows(credential) if credential else [],
        "form": form,
    }
    return render(request, "credentials/wallet.html", context, status=status)


@guardian_page
def wallet_view(request: HtmxHttpRequest, guardian: GuardianActor) -> HttpResponse:
    initial = {
        "nonce": request.GET.get("nonce", "")[:128],
        "audience": request.GET.get("audience", "")[:255],
    }
    return _page(request, guardian, PresentForm(initial=initial))


@require_POST
@guardian_page
def wallet_issue_view(request: HtmxHttpRequest, guardian: GuardianActor) -> HttpResponse:
    services.credential_issue(actor=guardian, student_id=guardian.student_id)
    return redirect("wallet:home")


@require_POST
@guardian_page
def wallet_present_view(request: HtmxHttpRequest, guardian: GuardianActor) -> HttpResponse:
    form = PresentForm(request.POST)
    credential = selectors.holder_credential(guardian)
    if credential is None:
        return redirect("wallet:home")
    if not form.is_valid():
        return _page(request, guardian, form, status=422)
    try:
        text = services.credential_present(
            guardian=guardian,
            credential=credential,
            disclose=form.cleaned_data["disclose"],
            nonce=form.cleaned_data["nonce"],
            audience=form.cleaned_data["audience"],
        )
    except ValidationFailed as error:
        for field_error in error.errors:
            form.add_error(None, field_error.message)
        return _page(request, guardian, form, status=422)
    shown = [claim_label(p) for p in DISCLOSABLE if p in form.cleaned_data["disclose"]]
    context = {
        "portal_signed_in": True,
        "qr": qr_data_uri(text),
        "text": text,
        "shown": shown,
        "audience": form.cleaned_data["audience"],
        "suspended": credential.state != "valid",
    }
    return render(request, "credentials/wallet_qr.html", context)


@guardian_page
def wallet_file_view(request: HtmxHttpRequest, guardian: GuardianActor) -> HttpResponse:
    """The issued credential (every disclosure, no key) as a file for a wallet."""
    credential = selectors.holder_credential(guardian)
    if credential is None:
        return redirect("wallet:home")
    response = HttpResponse(credential.issued, content_type="application/dc+sd-jwt")
    response["Content-Disposition"] = 'attachment; filename="xueji-credential.sd-jwt"'
    return response
