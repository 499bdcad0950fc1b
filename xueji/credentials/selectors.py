"""Reads of credentials: the holder's current one. A guardian sees only the credential of
the one student the portal sign-in named."""

from xueji.portal.actor import GuardianActor

from .models import Credential, CredentialState


def holder_credential(guardian: GuardianActor) -> Credential | None:
    """The student's newest credential that is valid or suspended (None: none live)."""
    return (
        Credential.objects.filter(
            student_id=guardian.student_id,
            state__in=(CredentialState.VALID, CredentialState.SUSPENDED),
        )
        .select_related("school")
        .order_by("-pk")
        .first()
    )
