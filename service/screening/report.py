"""The screening report of the contract, as pydantic models with the contract's camelCase names."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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


class ScreeningReport(_Model):
    patient: str
    evaluated_at: str = Field(alias="evaluatedAt")
    trials: list[TrialReport]

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, mode="json")
