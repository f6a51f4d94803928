"""bgrm's benchmarks and their harness, installed as ``bgrm_bench`` (``bgrm bench`` uses it)."""
