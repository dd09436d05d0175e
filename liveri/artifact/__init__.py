"""The exported version as a contract: its manifest (typed) and the formats it can hold.

Every stage after training reads a version through this package: export writes it, serve,
mobile and the benchmarks read it.
"""
