"""Liveri benchmarks stage."""
