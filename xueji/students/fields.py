"""Model fields for a student number at rest: encrypted, blind-indexed, stored masked.

``EncryptedNumberField`` holds the number sealed with AES-256-GCM (``xueji.fieldcrypto``,
``v<key version>$…``, bound to its column family by the associated data). Python code reads
and assigns plain numbers (``student.number``); the database never sees one. No lookup but
``isnull`` is allowed on it (a ciphertext is random: ``filter(number=…)`` could only match
nothing), so a forgotten lookup fails loudly: look numbers up through
``identity.number_q`` / ``identity.number_key``, which use the blind index.

``NumberKeyField`` and ``MaskedNumberField`` are computed from the number field named by
``source`` whenever the row is saved (``save()`` and ``bulk_create``; ``Student.save`` and
``StudentNumber.save`` add them to ``update_fields`` when the number is among them).
"""

from django.db import models

from xueji import fieldcrypto


class EncryptedNumberField(models.CharField):
    """A student number, encrypted at rest (see the module docstring)."""

    def __init__(self, *args, context: str = "", lenient: bool = False, **kwargs) -> None:
        self.context = context
        # Free text (a cell of an import file) may itself look like ``v1$…``: a value that
        # does not decrypt is then returned as it is instead of failing the page.
        self.lenient = lenient
        kwargs.setdefault("max_length", 255)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["context"] = self.context
        if self.lenient:
            kwargs["lenient"] = True
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        from . import identity

        if value is None:
            return value
        if not self.lenient:
            return identity.decrypt_stored(value, context=self.context)
        try:
            return identity.decrypt_stored(value, context=self.context)
        except Exception:
            return value

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if not value or fieldcrypto.is_encrypted(value):
            return value
        return fieldcrypto.encrypt(value, context=self.context)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None  # FieldError: "Unsupported lookup … for EncryptedNumberField"

    def get_transform(self, lookup_name):
        return None


class _Derived(models.CharField):
    """A column computed from the plain value of another field (``source``) on save."""

    def __init__(self, *args, source: str = "number", **kwargs) -> None:
        self.source = source
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        return name, path, args, kwargs

    def derive(self, plain: str):
        raise NotImplementedError

    def pre_save(self, model_instance, add):
        from . import identity

        plain = getattr(model_instance, self.source, "") or ""
        if plain and fieldcrypto.is_encrypted(plain):
            source_field = model_instance._meta.get_field(self.source)
            plain = identity.decrypt_stored(plain, context=source_field.context)
        value = self.derive(plain)
        setattr(model_instance, self.attname, value)
        return value


class NumberKeyField(_Derived):
    """The keyed blind index (HMAC-SHA256) of the number: exact lookups and uniqueness."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 64)
        super().__init__(*args, **kwargs)

    def derive(self, plain: str):
        from . import identity

        return identity.number_key(plain) if plain else None


class MaskedNumberField(_Derived):
    """The number as lists show it (``G330102********4761``): display, sort, part search."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("max_length", 19)
        super().__init__(*args, **kwargs)

    def derive(self, plain: str):
        from . import identity

        return identity.mask_student_number(plain)
