"""Domain errors with stable codes, shared by the API, the pages and the commands."""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _


@dataclass
class FieldError:
    """One broken rule: which field, which rule (stable code), and a Chinese message."""

    field: str
    code: str
    message: str
    value: str = ""
    row: int | None = None

    def as_dict(self) -> dict:
        out: dict[str, str | int] = {
            "field": self.field,
            "code": self.code,
            "message": str(self.message),
        }
        if self.value:
            out["value"] = self.value
        if self.row is not None:
            out["row"] = self.row
        return out


@dataclass
class DomainError(Exception):
    """Base of every refusal the domain makes. ``code`` never changes once published."""

    code: str = "error"
    message: str = ""
    errors: list[FieldError] = field(default_factory=list)
    http_status: int = 400
    detail: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.code}: {self.message}")

    def __str__(self) -> str:
        return str(self.message)

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "message": str(self.message),
            "errors": [e.as_dict() for e in self.errors],
            **({"detail": self.detail} if self.detail else {}),
        }


class NotFound(DomainError):
    """A missing row and a row outside the actor's scope look the same."""

    def __init__(self, what: str = "") -> None:
        super().__init__(
            code="not_found",
            message=str(_("未找到该记录，或不在您的管理范围内。")),
            http_status=404,
        )
        self.detail = {"what": what} if what else {}


class Forbidden(DomainError):
    """The object is in scope but the actor's roles do not allow the action."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            code="forbidden",
            message=message or str(_("您的角色无权执行此操作。")),
            http_status=403,
        )


class ValidationFailed(DomainError):
    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        super().__init__(
            code="validation_failed",
            message=message or str(_("提交的数据未通过校验。")),
            errors=errors,
            http_status=422,
        )


class Conflict(DomainError):
    def __init__(self, code: str, message: str, detail: dict | None = None) -> None:
        super().__init__(code=code, message=message, http_status=409, detail=detail or {})
