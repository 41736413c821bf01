"""Build-time tooling for fintoro-api: vendor the pinned spec, patch it, generate the package.

Not part of the installed package. Used by the Makefile and by the hatch build
hook (hatch_build.py), so `make generate` and `pip install .` run the same code.
"""
