"""The cards' uuids are version 4 UUIDs in their canonical text, each new."""

from __future__ import annotations

import uuid

from service.screening.uuids import uuid4_text


def test_uuid4_text_is_a_canonical_random_uuid() -> None:
    made = [uuid4_text() for _ in range(2000)]
    for text in made:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)
    assert len(set(made)) == len(made)
    # every variant digit and every value of the random digits' positions turn up
    assert {text[19] for text in made} == set("89ab")
    assert {text[0] for text in made} == set("0123456789abcdef")
