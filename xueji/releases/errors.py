"""Refusals of the release process, with stable codes."""

from xueji.errors import DomainError, FieldError


class ReleaseRefused(DomainError):
    """An actor in scope who may not take this step (403), with the rule's own code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code=code, message=message, http_status=403)


class BasisInvalid(DomainError):
    """No valid legal basis: the release cannot be approved (422, the broken rules listed)."""

    def __init__(self, errors: list[FieldError], message: str) -> None:
        super().__init__(
            code="release.basis_invalid", message=message, errors=errors, http_status=422
        )
