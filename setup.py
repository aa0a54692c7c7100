"""Shim for `python setup.py develop`, as Pointcept extensions are often installed; the package
metadata lives in pyproject.toml (`pip install -e .` reads it directly)."""

from setuptools import setup

setup()
