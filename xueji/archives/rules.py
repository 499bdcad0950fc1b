"""What an archive document may be: its kinds, file types and size. Pure: no database."""

from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from xueji.errors import FieldError

ARCHIVE_MAX_BYTES = 10 * 1024 * 1024
TITLE_MAX = 128


class DocumentKind(models.TextChoices):
    REGISTRATION_FORM = "registration_form", _("学籍登记表")
    TRANSFER_CERTIFICATE = "transfer_certificate", _("转学证明")
    MATERIAL = "material", _("证明材料")
    PHOTO = "photo", _("照片")
    OTHER = "other", _("其他")


# Accepted file types: name → (content type, extension). Decided by the file's first bytes,
# never by its name or the browser's claim.
FILE_TYPES: dict[str, tuple[str, str]] = {
    "pdf": ("application/pdf", ".pdf"),
    "png": ("image/png", ".png"),
    "jpg": ("image/jpeg", ".jpg"),
}


def sniff_file_type(head: bytes) -> str | None:
    """The accepted type whose signature the file starts with, or ``None``."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    return None


def document_errors(
    *,
    kind: str,
    title: str,
    has_file: bool,
    size: int,
    head: bytes,
    max_bytes: int = ARCHIVE_MAX_BYTES,
) -> list[FieldError]:
    """Every broken rule of one upload, each on its field (``kind``, ``title``, ``file``)."""
    errors = []
    if kind not in DocumentKind.values:
        errors.append(
            FieldError("kind", "archive.kind_unknown", gettext("请选择材料类别。"), kind[:32])
        )
    if not title.strip():
        errors.append(FieldError("title", "archive.title_missing", gettext("请填写材料名称。")))
    elif len(title.strip()) > TITLE_MAX:
        errors.append(
            FieldError(
                "title",
                "archive.title_too_long",
                gettext("材料名称不能超过 %d 个字。") % TITLE_MAX,
            )
        )
    if not has_file:
        errors.append(FieldError("file", "archive.file_missing", gettext("请选择要上传的文件。")))
    elif size <= 0:
        errors.append(FieldError("file", "archive.file_empty", gettext("文件是空的。")))
    elif size > max_bytes:
        errors.append(
            FieldError(
                "file",
                "archive.file_too_large",
                gettext("文件不能超过 %d MB。") % (max_bytes // (1024 * 1024)),
                str(size),
            )
        )
    elif sniff_file_type(head) is None:
        errors.append(
            FieldError(
                "file",
                "archive.file_type",
                gettext("只能上传 PDF、JPG 或 PNG 文件。"),
            )
        )
    return errors
