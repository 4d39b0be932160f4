"""The error type for bad user input (one line from ``inspect eval``) and the shared positive-integer check.

``positive_int`` is the one check of an integer >= 1 that the task, the judges and the probe's options share.

Inspect prints a traceback for any exception raised while it builds a task, except its own
``PrerequisiteError``, which it prints as a plain message. That class is not public, so this module is the
project's one use of a private Inspect name; ``tests/test_errors.py`` fails loudly if Inspect moves it.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

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


def _as_integer(value: object) -> int | None:
    """``value`` as an int when it is exactly an integer (int, integral float, or text holding one), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            try:
                value = float(value)
            except ValueError:
                return None
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        return int(number) if math.isfinite(number) and number.is_integer() else None
    return None


def positive_int(value: object, name: str) -> int:
    """``value`` as an integer >= 1: an int, an integral float, or text holding one ("3", "3.0").

    Args:
        value: The value as given (by ``-T``, a keyword argument or a command-line option).
        name: The input's name as the user writes it (``max_tokens``, ``--n-prompts``), for the message.

    Returns:
        The integer.

    Raises:
        InputError: anything else (0, negatives, fractions, infinity, booleans, text that is no number).
    """
    number = _as_integer(value)
    if number is None or number < 1:
        raise InputError(f"{name}={value!r}: expected an integer >= 1 (a positive integer: 1, 2, 3, ...)")
    return number
