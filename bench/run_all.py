"""Every benchmark with its default sizes: ``python -m bench.run_all`` (``make bench``).

Figures are printed and written to docs/benchmarks.md. Extra arguments go to each
benchmark, e.g. ``python -m bench.run_all --rows 1000000``.
"""

import sys

from bench import (
    audit_bench,
    credential_bench,
    duplicate_bench,
    import_bench,
    promotion_bench,
    read_audit_bench,
    release_bench,
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    return (
        import_bench.main(args)
        or promotion_bench.main(args, ignore_unknown=True)
        or duplicate_bench.main(args, ignore_unknown=True)
        or audit_bench.main(args, ignore_unknown=True)
        or read_audit_bench.main(args, ignore_unknown=True)
        or release_bench.main(args, ignore_unknown=True)
        or credential_bench.main(args, ignore_unknown=True)
    )


if __name__ == "__main__":
    raise SystemExit(main())
