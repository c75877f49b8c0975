"""Errors the operator or editor sees: each names the file, the key and the fix."""

from __future__ import annotations


class SupportBotError(Exception):
    """Base class for errors this project raises on purpose."""


class ConfigError(SupportBotError):
    """A configuration or data file is wrong.

    Rendered as ``<file>: <key>: <problem> (fix: <fix>)`` so the person reading a start-up
    failure knows where to look and what to change without reading a traceback.
    """

    def __init__(self, file: str, key: str, problem: str, fix: str = "") -> None:
        self.file = file
        self.key = key
        self.problem = problem
        self.fix = fix
        text = f"{file}: {key}: {problem}" if key else f"{file}: {problem}"
        if fix:
            text += f" (fix: {fix})"
        super().__init__(text)


class ModelMissingError(SupportBotError):
    """A model file the bot needs is not on disk; the message names the command that fixes it."""
