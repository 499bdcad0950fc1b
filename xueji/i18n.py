"""Translation helpers."""

from typing import cast

from django.utils.translation import gettext_lazy


def gettext_lazy_str(message: str) -> str:
    """``gettext_lazy`` typed as ``str``, for library arguments annotated ``str``.

    django-ninja's API title and description, router tags and operation summaries take
    ``str``; a lazy string works there (the OpenAPI document is built per request, in the
    request's language) but does not type-check. Import it as ``_`` so makemessages finds
    the messages.
    """
    return cast(str, gettext_lazy(message))
