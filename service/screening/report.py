"""The screening report of the contract, as pydantic models with the contract's camelCase names."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, frozen=True)


class EvidenceItem(_Model):
    reference: str
    display: str


class CriterionReport(_Model):
    id: str
    cohort: str | None
    kind: str  # inclusion | exclusion
    text: str
    result: str  # met | not-met | unknown | manual
    evidence: list[EvidenceItem]
    missing: list[str]


class CohortReport(_Model):
    id: str
    title: str
    status: str


class TrialReport(_Model):
    id: str
    title: str
    registry_id: str | None = Field(alias="registryId")
    status: str
    cohorts: list[CohortReport]
    criteria: list[CriterionReport]
    _json: dict[str, Any] | None = PrivateAttr(default=None)

    @classmethod
    def from_json_dict(cls, data: dict[str, Any]) -> TrialReport:
        """Validate the contract's JSON form once and keep it: the audit stores exactly that form, and
        dumping ~50 criteria back out of the models on every hook call would cost as much as validating."""
        report = cls.model_validate(data)
        report._json = data
        return report

    def to_json_dict(self) -> dict[str, Any]:
        return self._json if self._json is not None else self.model_dump(by_alias=True, mode="json")


class ScreeningReport(_Model):
    patient: str
    evaluated_at: str = Field(alias="evaluatedAt")
    trials: list[TrialReport]

    def to_json_dict(self) -> dict[str, object]:
        return {
            "patient": self.patient,
            "evaluatedAt": self.evaluated_at,
            "trials": [trial.to_json_dict() for trial in self.trials],
        }
