"""Benchmarks of trial-screen (`python -m bench`)."""
