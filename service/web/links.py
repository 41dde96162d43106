"""Signed links to a card's report page: the clinician can open it from the card without the audit token."""

from __future__ import annotations

import hashlib
import hmac


class LinkSigner:
    def __init__(self, secret: bytes, public_url: str) -> None:
        self._secret = secret
        self._public_url = public_url

    def signature(self, card_uuid: str) -> str:
        return hmac.new(self._secret, card_uuid.encode(), hashlib.sha256).hexdigest()[:32]

    def is_valid(self, card_uuid: str, signature: str) -> bool:
        return hmac.compare_digest(self.signature(card_uuid), signature)

    def report_url(self, card_uuid: str) -> str:
        return f"{self._public_url}/reports/{card_uuid}?sig={self.signature(card_uuid)}"
