"""Errors of the scanner.

``ScanError`` is the base. ``UsageError`` (bad spec, auth file or options) and ``TargetError``
(the target cannot be reached or returns nothing usable) end the scan with exit code 2.
``OriginError`` and ``BudgetExhausted`` stop one check: the first because a request would have
left the target's origin, the second because the request budget is spent.
"""

from __future__ import annotations


class ScanError(Exception):
    """Base of every scanner error."""


class UsageError(ScanError):
    """The spec, the auth file or an option is invalid."""


class TargetError(ScanError):
    """The target cannot be reached or does not respond as the spec describes."""


class OriginError(ScanError):
    """A request would go to an origin other than the target's."""


class BudgetExhausted(ScanError):
    """The total request budget of the scan is spent."""
