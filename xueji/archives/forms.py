from django import forms
from django.utils.translation import gettext_lazy as _

from xueji.web.forms import StyledForm

from .rules import TITLE_MAX, DocumentKind


class DocumentUploadForm(StyledForm):
    """Only shapes the input: the service checks type, size and content (its errors come
    back on these fields)."""

    kind = forms.ChoiceField(label=_("材料类别"), choices=DocumentKind.choices)
    title = forms.CharField(label=_("材料名称"), max_length=TITLE_MAX, required=False)
    file = forms.FileField(
        label=_("文件"),
        required=False,
        help_text=_("PDF、JPG 或 PNG，不超过 10 MB"),
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )

    marked_required = frozenset({"kind", "title", "file"})


class PaperEntryForm(StyledForm):
    description = forms.CharField(label=_("档案内容"), max_length=255, required=False)
    location = forms.CharField(label=_("存放位置"), max_length=255, required=False)
    kept_copy = forms.BooleanField(label=_("留存复印件"), required=False)

    marked_required = frozenset({"description", "location"})
