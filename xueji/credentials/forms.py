from django import forms
from django.utils.translation import gettext_lazy as _

from .claims import claim_label
from .rules import DISCLOSABLE

# What a presentation shows unless the guardian chooses otherwise: "enrolled at school X,
# grade Y", without name, number or anything else.
DEFAULT_DISCLOSURES = ("school.name", "grade", "enrolment_status")


class PresentForm(forms.Form):
    disclose = forms.MultipleChoiceField(
        label=_("出示的信息"),
        choices=[],
        widget=forms.CheckboxSelectMultiple,
        initial=list(DEFAULT_DISCLOSURES),
        error_messages={"required": _("请至少选择一项要出示的信息")},
    )
    nonce = forms.CharField(label=_("核验码（nonce）"), max_length=128)
    audience = forms.CharField(label=_("核验方（audience）"), max_length=255)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["disclose"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(path, claim_label(path)) for path in DISCLOSABLE]
