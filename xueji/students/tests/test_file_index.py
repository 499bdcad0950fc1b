"""The import's check inside one file (``duplicates.FileIndex``): the same verdicts as the
rule applied to every earlier row, in bounded memory (issue 11, item 14)."""

import random
import tracemalloc
from datetime import date, timedelta

from xueji.students.duplicates import FileIndex, Probe, match

SURNAMES = ["王", "李", "张", "刘", "陈"]
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳"]


def _probes(count: int, seed: int) -> list[Probe]:
    rng = random.Random(seed)
    parents = [f"{rng.getrandbits(256):064x}" for _ in range(count // 4 + 1)]
    probes = []
    for _ in range(count):
        surname, given = rng.choice(SURNAMES), "".join(rng.choices(GIVEN, k=rng.choice([1, 2])))
        resident = rng.random() < 0.7
        probes.append(
            Probe(
                name=surname + given,
                name_key=f"{SURNAMES.index(surname)}-{given}",
                sex=rng.choice("12"),
                birth_date=date(2015, 1, 1) + timedelta(days=rng.randrange(40)),
                id_type="1" if resident else "",
                id_key=f"{rng.getrandbits(256):064x}" if resident else None,
                guardian_keys=frozenset(rng.sample(parents, k=rng.choice([0, 1, 2]))),
            )
        )
    return probes


def test_each_row_is_matched_to_the_first_earlier_row_the_rule_accepts():
    probes = _probes(600, seed=7)
    index = FileIndex(threshold=80)
    found: dict[int, tuple[int, list[str]]] = {}
    for start in range(0, len(probes), 150):  # in chunks, as the import checks a file
        found |= index.check([(row + 2, probes[row]) for row in range(start, start + 150)])

    expected = {}
    for row, probe in enumerate(probes):
        for earlier in range(row):
            verdict = match(probe, probes[earlier], threshold=80)
            if verdict is not None:
                expected[row + 2] = (earlier + 2, verdict[1])
                break
    assert found == expected
    assert len(expected) > 50  # the data does hold look-alikes


def test_a_row_costs_at_most_600_bytes_while_the_file_is_checked():
    """A file of 200,000 rows stays in the index while it is checked: as ``Probe``
    objects a row took about 830 bytes (the largest allowed file peaked at 514 MB)."""
    probes = _probes(4000, seed=11)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        index = FileIndex(threshold=80)
        for start in range(0, len(probes), 1000):
            # The probes as the import hands them over: made for the chunk, then dropped.
            chunk = [(row, Probe(**_fields(probes[row]))) for row in range(start, start + 1000)]
            index.check(chunk)
            del chunk
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(index.rows) == 4000
    assert kept / 4000 <= 600, f"{kept / 4000:.0f} bytes a row"


def _fields(probe: Probe) -> dict:
    return {
        "name": "".join(probe.name),
        "name_key": "".join(probe.name_key),
        "sex": probe.sex,
        "birth_date": date.fromordinal(probe.birth_date.toordinal()),
        "id_type": probe.id_type,
        "id_key": None if probe.id_key is None else "".join(probe.id_key),
        "guardian_keys": frozenset("".join(k) for k in probe.guardian_keys),
    }
