"""Errors that reach a person. Each ``str()`` is one line: what is wrong and how to fix it."""

from __future__ import annotations


class RewindError(Exception):
    """Base of the errors Rewind reports to its users; never carries a secret or a traceback."""


class ConfigurationError(RewindError):
    """The settings are missing or malformed; the message names the variable to fix."""
