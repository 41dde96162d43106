"""Where each trial is run: recruiting or not, who to call, who receives the referral, the protocol page.

Read once at start from a YAML file (the `sites_file` setting; bundled demo values otherwise) and validated with
pydantic, so a typo in a trial id, a reference or a URL fails the start instead of reaching a card.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

BUNDLED_SITES = "sites.yaml"


class SiteConfigError(Exception):
    """The site configuration cannot be used; the message names the file and every problem in it."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrialContact(_Model):
    """The trial team a clinician calls or writes to."""

    name: Annotated[str, Field(min_length=1)]
    phone: str | None = None
    email: Annotated[str | None, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] = None


class ReferralRecipient(_Model):
    """The drafted ServiceRequest's `performer`: the site's Organization or the trial team's PractitionerRole."""

    reference: Annotated[str, Field(pattern=r"^(Organization|PractitionerRole)/[A-Za-z0-9\-.]{1,64}$")]
    display: str | None = None


class TrialSite(_Model):
    """One trial's site as the cards show it."""

    recruiting: bool
    contact: TrialContact | None = None
    referral_recipient: ReferralRecipient | None = None
    url: HttpUrl | None = None  # the protocol or site page
    url_label: Annotated[str, Field(min_length=1)] = "Trial site and protocol"


class _SiteFile(_Model):
    trials: dict[str, TrialSite]


@dataclass(frozen=True, slots=True)
class Sites:
    """The site of each configured trial; a trial the file does not name is shown without site details."""

    by_trial: Mapping[str, TrialSite]

    def site(self, trial_id: str) -> TrialSite | None:
        return self.by_trial.get(trial_id)

    def is_recruiting(self, trial_id: str) -> bool:
        site = self.by_trial.get(trial_id)
        return site is None or site.recruiting


def bundled_sites_file() -> Path:
    return Path(str(resources.files("service.screening") / BUNDLED_SITES))


def load_sites(path: Path | None, trial_ids: Collection[str]) -> Sites:
    """The site configuration at `path` (the bundled demo values when None), checked against the loaded trials."""
    source = path or bundled_sites_file()
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SiteConfigError(f"{source}: cannot read the site configuration: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SiteConfigError(f"{source}: not valid YAML: {exc}") from exc
    try:
        parsed = _SiteFile.model_validate(data)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'file'}: {e['msg']}" for e in exc.errors()]
        raise SiteConfigError(f"{source}: invalid site configuration:\n  " + "\n  ".join(problems)) from exc
    unknown = sorted(set(parsed.trials) - set(trial_ids))
    if unknown:
        known = ", ".join(sorted(trial_ids))
        raise SiteConfigError(f"{source}: unknown trial id(s) {', '.join(unknown)}; known: {known}")
    return Sites(parsed.trials)
