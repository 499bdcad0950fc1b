"""Benchmarks of xueji's bulk paths; ``python -m bench.run_all`` writes docs/benchmarks.md."""
