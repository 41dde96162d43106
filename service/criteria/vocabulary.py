"""What the checker needs to know about concepts and units; supplied by the caller (mappings.catalog)."""

from __future__ import annotations

from typing import Protocol


class Vocabulary(Protocol):
    def has_concept(self, concept: str, kind: str) -> bool:
        """Whether `concept` exists and can be read from resources of `kind`."""
        ...

    def concept_unit(self, concept: str) -> str | None:
        """Canonical UCUM unit of a measured concept (None for qualitative ones)."""
        ...

    def is_commensurable(self, concept: str, unit: str) -> bool:
        """Whether `concept` values convert to `unit` (mass↔molar counts where the analyte fixes it)."""
        ...

    def half_life_hours(self, concept: str) -> float | None:
        """The longest elimination half-life of the concept's drugs; None unless every one of them has one."""
        ...

    def label(self, concept: str) -> str:
        """Human name used in "missing" texts: "Absolute neutrophil count"."""
        ...
