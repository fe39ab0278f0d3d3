"""Rule engine: the catalogue of rules.md (A, B), thresholds, and the engine."""

from checks.rules import ALL_RULES, RULES_BY_CODE

__all__ = ["ALL_RULES", "RULES_BY_CODE"]
