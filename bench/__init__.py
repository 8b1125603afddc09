"""Benchmark of the remediator: ``make bench``. See ``bench/__main__.py``."""
