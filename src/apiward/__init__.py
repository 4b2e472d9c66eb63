"""apiward: protect HTTP APIs and learn how."""

__version__ = "0.1.0"
