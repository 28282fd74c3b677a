"""Graphs the benchmarks run besides `support`, listed in `bench/graphs/langgraph.json`."""
