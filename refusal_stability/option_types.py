"""argparse ``type`` functions shared by the commands: a bad option is one ``error:`` line (exit 2) at parse time.

Each turns the project's own check (``positive_int``, the grid's ``parse_temperatures``/``parse_seeds``) into
``argparse.ArgumentTypeError`` with the option's name, so nothing starts (no model download, no server) on a
bad value.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from refusal_stability.definitions.grid import GridError, parse_seeds, parse_temperatures
from refusal_stability.errors import positive_int

__all__ = ["folder_option", "model_option", "positive_int_option", "seeds_option", "temperatures_option"]


def positive_int_option(name: str) -> Callable[[str], int]:
    """An argparse ``type`` for option ``name``: :func:`positive_int`, its error in argparse's own type."""

    def parse(text: str) -> int:
        try:
            return positive_int(text, name)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return parse


def temperatures_option(text: str) -> tuple[float | None, ...]:
    """``--temperatures 0,0.5,1``: finite numbers >= 0, no duplicates (the task's own check)."""
    try:
        return parse_temperatures(text)
    except GridError as error:
        raise argparse.ArgumentTypeError(f"--temperatures {text!r}: {error}") from None


def seeds_option(text: str) -> tuple[int | None, ...]:
    """``--seeds 1,2,3``: signed 64-bit integers, no duplicates (the task's own check)."""
    try:
        return parse_seeds(text)
    except GridError as error:
        raise argparse.ArgumentTypeError(f"--seeds {text!r}: {error}") from None


def model_option(name: str, *keywords: str) -> Callable[[str], str]:
    """An argparse ``type``: an Inspect model (``provider/name``) or one of ``keywords`` (e.g. ``bundled``)."""

    def parse(text: str) -> str:
        provider, slash, model = text.partition("/")
        if text in keywords or (slash and provider.strip() and model.strip() and " " not in provider):
            return text
        also = "".join(f" or {keyword!r}" for keyword in keywords)
        raise argparse.ArgumentTypeError(
            f"{name} {text!r}: expected an Inspect model, provider/name (e.g. vllm/<model dir>, openai/gpt-4o-mini)"
            f"{also}"
        )

    return parse


def folder_option(name: str) -> Callable[[str], str]:
    """An argparse ``type``: a folder path that is not an existing file (the folder may not exist yet)."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"{name} {text!r}: expected a folder path")
        if Path(text).expanduser().exists() and not Path(text).expanduser().is_dir():
            raise argparse.ArgumentTypeError(f"{name} {text}: is an existing file; expected a folder (new or existing)")
        return text

    return parse
