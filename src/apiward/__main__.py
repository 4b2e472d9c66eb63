"""Run the ``apiward`` command as ``python -m apiward``."""

from apiward.cli import main

main()
