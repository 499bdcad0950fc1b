"""Search terms never travel in a URL (issue 10: no ID or student number in an access log).

A search form posts its fields; the view answers with a redirect to the same page whose
query string holds the other filters and, in place of the term, ``s``: a random token
the session maps to the term (the newest ``KEPT`` terms of a session are kept). Paging
links copy the query string, so they carry the token, never the term. A token the session
does not know (another browser, a session that ended) stands for no term.

A term that arrives in the query string anyway (an old bookmark, a hand-typed URL) still
works; if it holds a digit (part of a number) the page first redirects to the token form,
so the address bar, the history and the Referer of the next request no longer carry it.
"""

import secrets

from django.http import HttpRequest, HttpResponseRedirect, QueryDict

KEY_PARAM = "s"
TERM = "q"
KEPT = 20
_SESSION_KEY = "xueji.search_terms"


def is_sensitive(term: str) -> bool:
    """Whether a term may be (part of) an ID or student number: it holds a digit. Names
    hold none, and a term with a digit is never needed in a URL."""
    return any(ch.isdigit() for ch in term or "")


def _store(request: HttpRequest, term: str) -> str:
    terms = dict(request.session.get(_SESSION_KEY) or {})
    token = secrets.token_urlsafe(9)
    terms[token] = term
    while len(terms) > KEPT:
        terms.pop(next(iter(terms)))
    request.session[_SESSION_KEY] = terms
    return token


def _redirect(request: HttpRequest, data: QueryDict, field: str) -> HttpResponseRedirect:
    params = QueryDict(mutable=True)
    for key, values in data.lists():
        if key in ("csrfmiddlewaretoken", field, KEY_PARAM):
            continue
        kept = [value for value in values if value != ""]
        if kept:
            params.setlist(key, kept)
    term = (data.get(field) or "").strip()
    if term:
        params[KEY_PARAM] = _store(request, term)
    query = params.urlencode()
    response = HttpResponseRedirect(request.path + (f"?{query}" if query else ""))
    response.status_code = 303  # See Other: the browser follows with a GET
    return response


def redirect_posted(request: HttpRequest, field: str = TERM) -> HttpResponseRedirect:
    """The answer to a posted search form: the same page, the term replaced by a token."""
    return _redirect(request, request.POST, field)


def redirect_if_in_url(request: HttpRequest, field: str = TERM) -> HttpResponseRedirect | None:
    """A redirect to the token form when the query string carries a term with a digit."""
    if request.method == "GET" and is_sensitive(request.GET.get(field, "")):
        return _redirect(request, request.GET, field)
    return None


def query(request: HttpRequest, field: str = TERM) -> QueryDict:
    """``request.GET`` with the term the token stands for put back under ``field`` (to bind
    the filter form with). Without a token, the GET term as it is."""
    data = request.GET.copy()
    token = data.get(KEY_PARAM, "")
    if KEY_PARAM in data:
        del data[KEY_PARAM]
    if token:
        term = (request.session.get(_SESSION_KEY) or {}).get(token, "")
        if term:
            data[field] = term
    return data


def handle(
    request: HttpRequest, field: str = TERM
) -> tuple[HttpResponseRedirect | None, QueryDict]:
    """For a list view: a redirect to answer with (a posted form, or a number in the URL),
    else the query to bind the filter form with."""
    if request.method == "POST":
        return redirect_posted(request, field), QueryDict()
    redirect = redirect_if_in_url(request, field)
    if redirect is not None:
        return redirect, QueryDict()
    return None, query(request, field)


def refuse_in_url(term: str, *, search_path: str) -> None:
    """The API's list endpoints: a term with a digit in the query string is refused (422),
    naming the POST endpoint that takes it in the body instead. The request is already in
    the access log by then, but every client learns at its first try, before real numbers
    flow, and no answer is ever given to one in a URL."""
    from xueji.errors import FieldError, ValidationFailed
    from xueji.i18n import gettext_lazy_str as _

    if is_sensitive(term):
        message = str(
            _(
                "检索词含数字（可能是学籍号或身份证件号），不得放在网址中：请改用 POST %(path)s，在请求正文中提交。"
            )
            % {"path": search_path}
        )
        raise ValidationFailed([FieldError("q", "search.number_in_url", message)], message)
