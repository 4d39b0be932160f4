"""The error type for bad user input, shown by ``inspect eval`` as one line instead of a traceback.

Inspect prints a traceback for any exception raised while it builds a task, except its own
``PrerequisiteError``, which it prints as a plain message. That class is not public, so this module is the
project's one use of a private Inspect name; ``tests/test_errors.py`` fails loudly if Inspect moves it.
"""

from __future__ import annotations

from inspect_ai._util.error import PrerequisiteError  # private: see the module docstring


class InputError(PrerequisiteError, ValueError):
    """Bad input to the task or a scorer; the message names the input and what is expected.

    It is a ``ValueError`` for Python callers and an Inspect prerequisite error for the CLI.
    """

    def __init__(self, message: str) -> None:
        """Create the error with its one-line ``message``."""
        ValueError.__init__(self, message)
        self.message = message
        self.text = message

    def __str__(self) -> str:
        """The message itself."""
        return self.text
