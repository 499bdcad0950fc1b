"""Name features of the duplicate linkage: surname and given name, in characters and pinyin.

Builds on ``xueji.students.names`` (surname readings, compound surnames, the pinyin key):
the linkage compares the surname and the given name separately, each with its own
term frequencies, and needs a few keys the online check does not.
"""

from dataclasses import dataclass
from functools import lru_cache

from xueji.students.names import COMPOUND_SURNAMES, _is_han, _reading, name_pinyin


@dataclass(frozen=True)
class NameFeatures:
    surname: str
    given: str | None
    # Toneless pinyin, letters only: homophones (张/章, 子轩/子宣) share a key.
    surname_key: str
    given_key: str | None
    name_key: str
    initials: str
    # The given name with one character masked, once per position ("子*", "*轩"): two
    # given names of the same length that differ in exactly one character share a mask.
    given_masks: tuple[str, ...]


def split_name(name: str) -> tuple[str, str]:
    """(surname, given name). Compound surnames as ``name_pinyin`` reads them; names
    without Chinese characters split at the first space (KIM MINJUN → KIM, MINJUN)."""
    name = name.strip()
    if not name:
        return "", ""
    if not _is_han(name[0]):
        head, _, rest = name.partition(" ")
        return head, rest.strip()
    for compound in COMPOUND_SURNAMES:
        if name.startswith(compound):
            return compound, name[len(compound) :]
    return name[0], name[1:]


def _key(tokens: list[str]) -> str:
    return "".join(ch for ch in "".join(tokens).lower() if ch.isalnum() or ch == "?")


@lru_cache(maxsize=1 << 18)
def name_features(name: str) -> NameFeatures:
    """Every name feature the linkage input carries.

    Surname and given name are read apart (the surname as a surname: 曾 → zeng), each
    through a cache of its own: a million names hold a few hundred surnames and some ten
    thousand given names, where reading whole names would call pypinyin for each.
    """
    surname, given = split_name(name)
    han = bool(surname) and _is_han(surname[0])
    surname_key, surname_initials = _surname_reading(surname, han)
    given_key, given_initials, masks = _given_reading(given, han)
    return NameFeatures(
        surname=surname,
        given=given or None,
        surname_key=surname_key,
        given_key=given_key or None,
        name_key=surname_key + given_key,
        initials=surname_initials + given_initials,
        given_masks=masks,
    )


@lru_cache(maxsize=1 << 12)
def _surname_reading(surname: str, han: bool) -> tuple[str, str]:
    tokens = (name_pinyin(surname) if han else surname).split() if surname else []
    return _key(tokens), "".join(token[0] for token in tokens if token).lower()


@lru_cache(maxsize=1 << 17)
def _given_reading(given: str, han: bool) -> tuple[str, str, tuple[str, ...]]:
    if han:
        tokens = [token for token in _reading(given) if token.strip("·")] if given else []
    else:
        tokens = given.split()
    masks: tuple[str, ...] = ()
    if len(given) >= 2:
        masks = tuple(given[:i] + "*" + given[i + 1 :] for i in range(len(given)))
    return _key(tokens), "".join(token[0] for token in tokens if token).lower(), masks
