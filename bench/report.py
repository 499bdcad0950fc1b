"""What every benchmark shares in its report: the machine it ran on, a note when other work
shared it, and its own section of docs/benchmarks.md.

A section is rendered from the JSON entries it keeps in an HTML comment, so that a run of one
database (or one size) replaces that entry and keeps the others; the rest of the file is left
alone.
"""

import json
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADING = (
    "# Benchmarks\n\nWritten by `python -m bench.run_all` (`make bench`); each "
    "section is replaced by its benchmark, the rest of this file is left alone.\n\n"
)


def machine() -> dict:
    """CPU model, cores, memory, OS and Python of the machine the benchmark ran on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GB"
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def busy_note(entry: dict, detail: str = "") -> str:
    """A note when the load (before/after the run) exceeded the machine's cores: the
    absolute figures are depressed; ``detail`` says what still holds."""
    cores = entry["machine"].get("cores") or 1
    if max(entry.get("load_average", [0])) <= cores:
        return ""
    note = " — **the machine was busy with other work** (load above its core count)"
    return note + (f": {detail}" if detail else "")


@dataclass(frozen=True)
class Section:
    """One benchmark's section: ``<!-- NAME:start -->`` … ``<!-- NAME:end -->``, its entries
    kept in ``<!-- NAME-data [...] -->``, one entry per ``key``."""

    name: str
    key: Callable[[dict], object]

    @property
    def start(self) -> str:
        return f"<!-- {self.name}:start -->"

    @property
    def end(self) -> str:
        return f"<!-- {self.name}:end -->"

    @property
    def data_mark(self) -> str:
        return f"<!-- {self.name}-data "

    def data_line(self, entries: list[dict]) -> str:
        payload = json.dumps(entries, ensure_ascii=False, separators=(",", ":"))
        return f"{self.data_mark}{payload} -->"

    def read_entries(self, text: str) -> list[dict]:
        start = text.find(self.data_mark)
        if start < 0:
            return []
        end = text.find(" -->", start)
        try:
            return json.loads(text[start + len(self.data_mark) : end])
        except ValueError:
            return []

    def update(
        self, new_entries: list[dict], render: Callable[[list[dict]], str], path: Path = DOCS
    ) -> None:
        """Merge ``new_entries`` into the kept ones (by key) and rewrite the section."""
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        kept = {self.key(entry): entry for entry in self.read_entries(text)}
        for entry in new_entries:
            kept[self.key(entry)] = entry
        section = render(list(kept.values()))
        if self.start in text and self.end in text:
            head, rest = text.split(self.start, 1)
            tail = rest.split(self.end, 1)[1].lstrip("\n")
            text = head + section + ("\n" + tail if tail else "")
        else:
            text = (text.rstrip("\n") + "\n\n" if text else HEADING) + section
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def by_target_and(field: str) -> Callable[[dict], object]:
    """The usual key: one entry per database and size."""
    return lambda entry: f"{entry['target']}:{entry[field]}"
