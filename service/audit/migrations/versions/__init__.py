"""Audit store revisions (a package so that ``pip install .`` ships them)."""
