"""Every benchmark with its default sizes: ``python -m bench.run_all`` (``make bench``).

Figures are printed and written to docs/benchmarks.md. Extra arguments go to each
benchmark, e.g. ``python -m bench.run_all --rows 1000000``.
"""

import sys

from bench import import_bench


def main(argv: list[str] | None = None) -> int:
    return import_bench.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
