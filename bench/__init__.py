"""Benchmarks: each module has main() and prints its figures as a table (python -m bench [name])."""
