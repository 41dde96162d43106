"""The one exception family of :mod:`service.fhir_access`.

::

    FhirError                     base: callers catch this
      ├─ FhirServerNotAllowed     fhirServer is not in the allow-list        → 403 at the hook
      ├─ FhirUnavailable          timeout / connect error / 5xx / 429        → degraded 200
      ├─ FhirAuthError            the FHIR server said 401 / 403             → degraded 200 + warning card
      ├─ FhirResponseError        not JSON, OperationOutcome, wrong resourceType or bundle type,
      │                           too large, too many pages, redirect, next link outside the allow-list
      └─ BundleError              malformed bundle / no Patient / several Patients → 400

Messages never carry a bearer token or PHI (no resource contents, no patient ids, no query strings).
They may name a resource type, an HTTP status code and the server's base URL.
"""

from __future__ import annotations


class FhirError(Exception):
    """Base of every error raised by :mod:`service.fhir_access`."""

    def __init__(self, message: str, *, base_url: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.base_url = base_url
        self.status = status

    def __str__(self) -> str:
        return self.message


class FhirServerNotAllowed(FhirError):  # noqa: N818  (name fixed by the layer contract)
    """The requested FHIR server is not covered by the allow-list (the hook answers 403)."""


class FhirUnavailable(FhirError):  # noqa: N818  (name fixed by the layer contract)
    """The server could not be reached in time, or answered 5xx / 429."""

    def __init__(
        self,
        message: str,
        *,
        base_url: str | None = None,
        status: int | None = None,
        timed_out: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, base_url=base_url, status=status)
        self.timed_out = timed_out
        self.retry_after = retry_after


class FhirAuthError(FhirError):
    """The FHIR server refused the credentials (401) or the access (403)."""


class FhirResponseError(FhirError):
    """The server answered, but not with something usable."""


class BundleError(FhirError):
    """A bundle given to us (prefetch, ``POST /screening``) cannot be turned into one patient's record."""
