"""Text into a card's markdown: every piece that is not our own markup goes through `text()`.

The EHR renders `card.detail` (CommonMark / GitHub-flavoured markdown), not us, so a unit, a display or a
criterion's wording that holds `[label](url)`, `<img onerror=…>`, `**`, a line break or a bare URL must arrive as
the same characters, shown, never as markup or a link. Escaping by backslash is CommonMark's own way (any ASCII
punctuation may be escaped) and keeps the text readable where an EHR shows the markdown raw. Renderers that
linkify bare URLs and domains (GFM's autolink extension, markdown-it's linkify) do it after escapes are
resolved, so those get a zero-width space that breaks the pattern without changing what a person reads.

The hook escapes a dozen pieces per card, most with nothing to escape, so each step first asks (in C) whether
it has anything to do, and no substitution uses a template: in Python 3.11 a replacement with a backslash or a
group reference, and `str.translate` with a table of two-character strings, run per call in Python.
"""

from __future__ import annotations

import re
from typing import Final

_ZERO_WIDTH_SPACE: Final = "\u200b"
# inline markup (emphasis, code, links and images by their brackets, strikethrough), HTML and entities, anywhere;
# "#" too, since a piece may start a list item ("- # x" is a heading). Parentheses alone are no markup.
_ESCAPES: Final = tuple((c, "\\" + c) for c in "\\`*_[]<>#~&")  # the backslash first: it is not escaped twice
# block markup, only where the piece starts: a bullet ("- ", "+ ") or a numbered item ("1. ", "1) ")
_NUMBER: Final = re.compile(r"\d+(?=[.)])")
# what linkifiers take for a link: "scheme://", "www.", "name.tld", "user@host"; each as the character after which
# the zero-width space goes (the dot's lookbehind repeats it, so that every pattern starts with a literal)
_DOMAIN_DOT: Final = re.compile(r"(?i)\.(?<=[a-z0-9]\.)(?=[a-z])")
_SCHEME_COLON: Final = re.compile(r":(?=//)")


def text(value: str) -> str:
    """`value` as literal markdown text on one line: no markup, no HTML, no link, no line break."""
    # every whitespace character but the space is unprintable (tests check each code point): a printable piece
    # with no run of spaces and none at its ends is on one line already
    escaped = value
    if not escaped.isprintable() or "  " in escaped or escaped[:1] == " " or escaped[-1:] == " ":
        escaped = " ".join(escaped.split())
    # one C scan per character is ~2x cheaper than a regular expression's character class
    if (
        "\\" in escaped
        or "`" in escaped
        or "*" in escaped
        or "_" in escaped
        or "[" in escaped
        or "]" in escaped
        or "<" in escaped
        or ">" in escaped
        or "#" in escaped
        or "~" in escaped
        or "&" in escaped
    ):
        for character, escape in _ESCAPES:
            escaped = escaped.replace(character, escape)
    first = escaped[:1]
    if first == "-" or first == "+":
        escaped = "\\" + escaped
    elif first.isdigit() and (number := _NUMBER.match(escaped)) is not None:
        escaped = f"{number[0]}\\{escaped[number.end() :]}"
    if "." in escaped:
        escaped = _DOMAIN_DOT.sub("." + _ZERO_WIDTH_SPACE, escaped)
    if ":" in escaped:
        escaped = _SCHEME_COLON.sub(":" + _ZERO_WIDTH_SPACE, escaped)
    if "@" in escaped:
        escaped = escaped.replace("@", "@" + _ZERO_WIDTH_SPACE)
    return escaped
