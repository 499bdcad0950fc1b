"""The form base shared by every page: Bootstrap styling and service errors on fields."""

from django import forms

from xueji.errors import FieldError


def widget_css(widget: forms.Widget) -> str:
    """The Bootstrap class of a widget."""
    if isinstance(widget, forms.CheckboxInput):
        return "form-check-input"
    if isinstance(widget, forms.Select):
        return "form-select"
    return "form-control"


class StyledForm(forms.Form):
    """Bootstrap classes on every widget; ``is-invalid`` and ``aria-invalid`` on fields with
    errors, whether Django or a service found them."""

    marked_required: frozenset[str] = frozenset()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {widget_css(widget)}".strip()

    def add_error(self, field, error) -> None:
        super().add_error(field, error)
        names = list(error.error_dict) if hasattr(error, "error_dict") else [field]
        for name in names:
            if name in self.fields:
                attrs = self.fields[name].widget.attrs
                if "is-invalid" not in attrs.get("class", ""):
                    attrs["class"] = f"{attrs.get('class', '')} is-invalid".strip()
                attrs["aria-invalid"] = "true"

    def add_field_errors(self, errors: list[FieldError]) -> None:
        """Place a service's field errors next to their fields; the others above the form,
        as their message says them (a message names its field and rule in words: the
        internal field key, "stage" say, is never shown)."""
        for error in errors:
            field = error.field if error.field in self.fields else None
            self.add_error(field, str(error.message))
