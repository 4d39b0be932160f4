"""Offline heuristic refusal judge: placeholder during the split (rules only)."""

from __future__ import annotations

from refusal_stability.scorers.heuristic_rules import classify, explain

__all__ = ["classify", "explain"]
