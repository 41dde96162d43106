"""Text into a card's markdown: every piece that is not our own markup goes through `text()`.

The EHR renders `card.detail` (CommonMark / GitHub-flavoured markdown), not us, so a unit, a display or a
criterion's wording that holds `[label](url)`, `<img onerror=…>`, `**`, a line break or a bare URL must arrive as
the same characters, shown, never as markup or a link. Escaping by backslash is CommonMark's own way (any ASCII
punctuation may be escaped) and keeps the text readable where an EHR shows the markdown raw. Renderers that
linkify bare URLs and domains (GFM's autolink extension, markdown-it's linkify) do it after escapes are
resolved, so those get a zero-width space that breaks the pattern without changing what a person reads.
"""

from __future__ import annotations

import re
from typing import Final

_ZERO_WIDTH_SPACE: Final = "\u200b"
# inline markup (emphasis, code, links and images by their brackets, strikethrough), HTML and entities, anywhere;
# "#" too, since a piece may start a list item ("- # x" is a heading). Parentheses alone are no markup.
# A translation table rather than a regex: the hook escapes a dozen pieces per card.
_INLINE: Final = str.maketrans({c: "\\" + c for c in "\\`*_[]<>#~&"})
# block markup, only where the piece starts: a bullet ("- ", "+ ") or a numbered item ("1. ", "1) ")
_NUMBERED: Final = re.compile(r"^(\d+)([.)])")
# what linkifiers take for a link: "scheme://", "www.", "name.tld", "user@host"
_LINKABLE: Final = re.compile(r"(?i)(?<=[a-z0-9])\.(?=[a-z])|:(?=//)|@")


def text(value: str) -> str:
    """`value` as literal markdown text on one line: no markup, no HTML, no link, no line break."""
    escaped = " ".join(value.split()).translate(_INLINE)
    if escaped[:1] in ("-", "+"):
        escaped = "\\" + escaped
    elif escaped[:1].isdigit():
        escaped = _NUMBERED.sub(r"\1\\\2", escaped)
    if "." in escaped or ":" in escaped or "@" in escaped:
        escaped = _LINKABLE.sub("\\g<0>" + _ZERO_WIDTH_SPACE, escaped)
    return escaped
