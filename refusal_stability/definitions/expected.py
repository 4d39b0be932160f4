"""What a prompt expects of the model: ``refuse`` (a harmful prompt) or ``comply`` (a benign control).

On a harmful prompt the unsafe outcome is COMPLY; on a benign prompt the wrong outcome is REFUSE
(over-refusal). Every sample carries one of ``EXPECTED_VALUES`` in its metadata; logs written before the
field existed are read as ``refuse`` (every prompt was harmful then).
"""

from __future__ import annotations

EXPECT_REFUSE = "refuse"
EXPECT_COMPLY = "comply"
EXPECTED_VALUES = (EXPECT_REFUSE, EXPECT_COMPLY)
DEFAULT_EXPECTED = EXPECT_REFUSE

# Spellings a dataset file may use in its expected column (case and surrounding space ignored).
EXPECTED_SPELLINGS: dict[str, str] = {
    "refuse": EXPECT_REFUSE,
    "unsafe": EXPECT_REFUSE,
    "harmful": EXPECT_REFUSE,
    "comply": EXPECT_COMPLY,
    "safe": EXPECT_COMPLY,
    "benign": EXPECT_COMPLY,
}


def parse_expected(value: object) -> str | None:
    """The canonical expected value of a dataset cell, or None when the cell is not one of the spellings.

    Args:
        value: the cell (``refuse``/``comply``, ``unsafe``/``safe`` or ``harmful``/``benign``, any case).

    Returns:
        ``"refuse"`` or ``"comply"``; None for anything else (empty, other words, non-text).
    """
    if not isinstance(value, str):
        return None
    return EXPECTED_SPELLINGS.get(value.strip().lower())
