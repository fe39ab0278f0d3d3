"""The generator's registries: which method plants a rule's problems and near misses.

``@injects("rule_code")`` and ``@near_misses("rule_code")`` register an injector
method (of :class:`demo.inject.Injector`, whichever module defines it); a code
that is not a rule of the catalogue is refused at import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from checks.rules import ALL_RULES, RULES_BY_CODE

Inject = Callable[[Any, int], None]
"""An injector method: plants variant ``i`` of a problem (or near miss), or raises Skip."""

INJECTORS: dict[str, Inject] = {}
"""Rule code → the method that plants one problem of that rule (``@injects``)."""
NEAR_MISSES: dict[str, Inject] = {}
"""Rule code → the method that plants near misses of that rule (``@near_misses``)."""


def _registrar(
    registry: dict[str, Inject], what: str
) -> Callable[[str], Callable[[Inject], Inject]]:
    def by_code(code: str) -> Callable[[Inject], Inject]:
        def register(fn: Inject) -> Inject:
            if code not in RULES_BY_CODE:
                raise KeyError(f"{fn.__name__}: {code!r} is not a rule of the catalogue")
            if code in registry:
                raise ValueError(f"two {what} for rule {code!r}")
            registry[code] = fn
            return fn

        return register

    return by_code


injects = _registrar(INJECTORS, "injectors")
"""``@injects("rule_code")``: register the problem injector of a rule."""
near_misses = _registrar(NEAR_MISSES, "near-miss injectors")
"""``@near_misses("rule_code")``: register the near-miss injector of a rule."""


def missing_injectors() -> list[str]:
    """Catalogue rules the generator cannot plant a problem for (must be none)."""
    return [r.code for r in ALL_RULES if r.code not in INJECTORS]


class Skip(Exception):
    """No household fits this variant: try the next one."""
