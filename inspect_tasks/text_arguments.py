"""Free-text task arguments that may name a file: read the file, keep text, refuse a path to a missing file.

A value is read as a path when it is one line without whitespace and either ends in a text-file suffix
(``.txt``, ``.md``, ``.jinja2``, ``.j2``, ``.prompt``) or contains a path separator (a slash or a backslash). Such a
value naming no file is an error, never sent as the text itself. Text with a space or a line break is always
literal (``-T "system_prompt=Refuse harm/abuse."``).
"""

from __future__ import annotations

from pathlib import Path

from refusal_stability.errors import InputError

__all__ = ["TEXT_FILE_SUFFIXES", "looks_like_file", "text_or_file"]

TEXT_FILE_SUFFIXES = (".txt", ".md", ".jinja2", ".j2", ".prompt")
MAX_PATH_CHARS = 4096


def looks_like_file(value: str) -> bool:
    """True when ``value`` reads as a path to a text file (see the module docstring)."""
    if not value or len(value) >= MAX_PATH_CHARS or any(c.isspace() for c in value):
        return False
    return value.lower().endswith(TEXT_FILE_SUFFIXES) or "/" in value or "\\" in value


def text_or_file(value: str, name: str) -> str:
    """The text of the file ``value`` names, or ``value`` itself when it is literal text.

    Raises:
        InputError: ``value`` looks like a path to a text file that does not exist (or cannot be read).
    """
    if "\n" in value or len(value) >= MAX_PATH_CHARS:
        return value
    path = Path(value).expanduser()
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{name}={value!r}: cannot read this file as UTF-8 text ({exc})") from None
    if looks_like_file(value):
        raise InputError(
            f"{name}={value!r} looks like a path to a text file, but there is no such file (looked in "
            f"{Path.cwd()}); fix the path, or pass the text itself as a literal (text with a space is never read "
            "as a path)"
        )
    return value
