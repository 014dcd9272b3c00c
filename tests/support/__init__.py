"""Shared by the tests and the benchmarks: tiny projects, real services, the published DF-GAN blocks."""
