"""Model fields for personal data at rest: encrypted, blind-indexed, stored masked.

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

import json

from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact

from xueji import fieldcrypto


class _EmptyOnlyExact(Exact):
    """``field=""`` on an encrypted column: '' is stored as '' (nothing to seal), so "has
    no value" can be asked; any other value is a ciphertext that could only match nothing."""

    def get_prep_lookup(self):
        if self.rhs != "":
            raise FieldError(
                f"{self.lhs.output_field.name} is encrypted: only an exact '' lookup is allowed"
            )
        return super().get_prep_lookup()


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
        if lookup_name == "exact":
            return _EmptyOnlyExact
        return None  # FieldError: "Unsupported lookup … for EncryptedNumberField"

    def get_transform(self, lookup_name):
        return None


class EncryptedTextField(EncryptedNumberField):
    """Short personal text encrypted at rest the same way (a guardian's phone number): no
    lookup but ``isnull`` and ``=''``; a search by it would need a blind index of its own."""


class EncryptedJSONField(models.TextField):
    """A JSON object encrypted at rest as one value (the non-basic information: addresses,
    phones and flags such as disability, orphan, left-behind).

    Python code reads and assigns a ``dict``; the column holds ``v<version>$…`` of its JSON
    text under ``context``. No lookup but ``isnull``: nothing may filter on what is inside
    (counts of a flag decrypt in Python, see docs/security.md). A value still in plain JSON
    (before ``students.0007``) is read as it is.
    """

    def __init__(self, *args, context: str = "", **kwargs) -> None:
        self.context = context
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["context"] = self.context
        return name, path, args, kwargs

    def from_db_value(self, value, expression, connection):
        if value is None:
            return value
        if isinstance(value, str) and fieldcrypto.is_encrypted(value):
            value = fieldcrypto.decrypt(value, context=self.context)
        return json.loads(value) if isinstance(value, str) else value

    def to_python(self, value):
        if isinstance(value, str):
            if fieldcrypto.is_encrypted(value):
                value = fieldcrypto.decrypt(value, context=self.context)
            return json.loads(value) if value else {}
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, str) and fieldcrypto.is_encrypted(value):
            return value  # already sealed (key rotation, bulk paths)
        return seal_json(value, context=self.context)

    def value_to_string(self, obj):
        return json.dumps(self.value_from_object(obj), ensure_ascii=False)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None

    def get_transform(self, lookup_name):
        return None


def seal_json(value, *, context: str) -> str:
    """A JSON value as an ``EncryptedJSONField`` stores it (bulk SQL paths use this too)."""
    return fieldcrypto.encrypt(
        json.dumps(value, ensure_ascii=False, sort_keys=True), context=context
    )


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
