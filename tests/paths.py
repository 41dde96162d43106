"""Where the tests find the repository and the shared data beside it (no pytest here: helpers import it too)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SYNTHEA = SHARED / "data" / "synthea"
