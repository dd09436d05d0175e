"""Errors the CLI turns into exit codes: bad input is exit 2, a failed gate or check exit 1."""


class UsageError(Exception):
    """Bad usage or bad input; the message says what was wrong and what was expected (exit 2)."""


class CheckFailed(Exception):
    """A release gate or quality check failed (exit 1)."""
