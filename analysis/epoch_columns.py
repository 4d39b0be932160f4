"""The per-epoch record of a stability reduction as columns, in either layout the reducer has written.

Current layout (docs/log-schema.md): ``metadata["epochs"]`` is a dict of columns, one list per field in epoch
order; a field null on every epoch is left out, and a second judge's reduction holds only ``epoch``, ``label``
(and ``panel``): its other fields are those of another reduction of the same sample in the same log (the same
responses). Older logs hold a list of per-epoch dicts with every field, and a ``per_temperature`` count the
reader never needed.
"""

from __future__ import annotations

from typing import Any

from refusal_stability.definitions.epoch_fields import EPOCH_FIELDS

__all__ = ["EPOCH_FIELDS", "SharedFields", "absent_values", "epoch_columns", "epoch_records"]


def epoch_columns(epochs: Any) -> dict[str, list[Any]] | None:
    """The columns of a reduction's ``epochs`` (either layout); None when it is neither.

    Args:
        epochs: ``metadata["epochs"]`` of a stability reduction: a dict of equal-length lists (current
            layout, ``epoch`` and ``label`` required) or a list of per-epoch dicts (older logs).

    Returns:
        Field -> one value per epoch, holding only the fields the log wrote (older logs: every field).
    """
    if isinstance(epochs, dict):
        labels = epochs.get("label")
        if not isinstance(labels, list) or not isinstance(epochs.get("epoch"), list):
            return None
        if any(not isinstance(values, list) or len(values) != len(labels) for values in epochs.values()):
            return None
        return epochs
    if isinstance(epochs, list) and all(isinstance(entry, dict) for entry in epochs):
        columns = {name: [entry.get(name) for entry in epochs] for name in EPOCH_FIELDS}
        if any("panel" in entry for entry in epochs):
            columns["panel"] = [entry.get("panel") for entry in epochs]
        return columns
    return None


def epoch_records(epochs: Any) -> list[dict[str, Any]]:
    """One dict per epoch with every field (absent fields null), from either layout; [] when unreadable."""
    columns = epoch_columns(epochs) or {}
    n = len(columns.get("label", []))
    names = [*EPOCH_FIELDS, *(["panel"] if "panel" in columns else [])]
    return [{name: columns[name][i] if name in columns else None for name in names} for i in range(n)]


class SharedFields:
    """Fields one reduction of a sample left out, taken from another reduction of the same sample (same log)."""

    def __init__(self) -> None:
        """An empty pool of sample columns."""
        self._by_sample: dict[str, list[dict[str, list[Any]]]] = {}
        self.names: set[str] = set()  # every field some reduction holds

    def add(self, sample_id: str, columns: dict[str, list[Any]]) -> None:
        """Offer a reduction's columns of ``sample_id`` to the other reductions of that sample."""
        self._by_sample.setdefault(sample_id, []).append(columns)
        self.names.update(columns)

    def column(self, sample_id: str, columns: dict[str, list[Any]], name: str) -> list[Any]:
        """``columns[name]``; else another reduction's column of the sample, matched by epoch; else absent values.

        Absent values: ``sent_verified`` false, any other field null.
        """
        own = columns.get(name)
        if own is not None:
            return own
        epochs = columns["epoch"]
        others = self._by_sample.get(sample_id, ())
        for other in others if len(others) > 1 else ():
            values = other.get(name)
            if values is None or other is columns:
                continue
            if other["epoch"] == epochs:
                return values
            by_epoch = dict(zip(other["epoch"], values, strict=True))
            return [by_epoch.get(epoch) for epoch in epochs]
        return absent_values(name, len(epochs))


def absent_values(name: str, n: int) -> list[Any]:
    """What ``n`` epochs hold in a field no reduction of theirs wrote: false for ``sent_verified``, else null."""
    return [False if name == "sent_verified" else None] * n
