"""Matching text the way guardrails should, and catching what a stream splits.

:func:`normalize` is the form to compare texts and keywords in, the same in the Rust,
Python and JavaScript SDKs (all three are tested against
``guest-sdk/conformance/text.json``). :class:`HoldBack` keeps the end of a stream's answer
back so that a word split across chunks is still caught before the client sees it.
Where the texts of a request or response are is the host's business (contract 0.2's
``content`` resources; :meth:`hookgate_sdk.Request.texts`).

Pure functions over strings and the SDK's :class:`~hookgate_sdk.Chunk`: nothing here
calls the host directly, so it runs (and is tested) in plain CPython.
"""

import re
import unicodedata

__all__ = ["normalize", "is_white_space", "is_default_ignorable", "HoldBack"]


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): invisible characters
# that would split a keyword without showing.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
# Unicode's White_Space (PropList.txt).
_WHITE_SPACE_RANGES = (
    (0x0009, 0x000D), (0x0020, 0x0020), (0x0085, 0x0085), (0x00A0, 0x00A0), (0x1680, 0x1680),
    (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip


def _class(ranges):
    return "[" + "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges).replace("\\", "\\\\") + "]"


_IGNORABLE = re.compile(_class(_IGNORABLE_RANGES))
_WHITE_SPACE_RUN = re.compile(_class(_WHITE_SPACE_RANGES) + "+")


def is_default_ignorable(ch):
    """Whether the character ``ch`` is a Default_Ignorable_Code_Point."""
    return _IGNORABLE.fullmatch(ch) is not None


def is_white_space(ch):
    """Whether the character ``ch`` is White_Space."""
    return _WHITE_SPACE_RUN.fullmatch(ch) is not None


def normalize(text):
    """The form guardrails match text in, the same in every hookgate SDK:

    1. Unicode NFKC (fullwidth ``ｓｅｃｒｅｔ`` → ``secret``, ``ﬁ`` → ``fi``, ``²`` → ``2``);
    2. every Default_Ignorable_Code_Point removed (soft hyphen, zero-width space and
       joiners, bidi controls, variation selectors, tag characters, ...), then NFKC
       again if any was: an ignorable between a letter and its combining mark would
       otherwise keep them apart (``cafe<ZWSP><U+0301>`` → ``café``);
    3. every run of White_Space (tabs, newlines, no-break and ideographic spaces, ...)
       replaced by one space, and the ends trimmed;
    4. lower-cased with the full Unicode mapping (``str.lower``: ``ẞ`` → ``ß``, ``İ`` →
       ``i̇``), then Greek final sigma ``ς`` folded to ``σ``: engines disagree on when
       ``Σ`` lower-cases to ``ς``, and a word should match wherever it ends.

    Look-alikes from other scripts are not folded: Cyrillic ``е`` stays distinct from
    Latin ``e``. The Unicode version is the runtime's (``unicodedata.unidata_version``):
    results agree across the SDKs for characters assigned in all their versions.
    """
    if isinstance(text, str) and text.isascii():
        # NFKC leaves ASCII as it is, no ASCII character is ignorable, and its White_Space
        # is tab to carriage return and the space: text with single spaces only needs no
        # regular expression, whose scans were most of a keyword guardrail's time.
        if "  " in text or not text.isprintable():
            text = _WHITE_SPACE_RUN.sub(" ", text)
        return text.strip(" ").lower()
    return _normalize_any(text)


def _normalize_any(text):
    """:func:`normalize`'s steps for any text (its ASCII shortcut is tested against this)."""
    text = unicodedata.normalize("NFKC", text)
    stripped = _IGNORABLE.sub("", text)
    if len(stripped) != len(text):  # "e<ZWSP><U+0301>": now adjacent, they compose
        text = unicodedata.normalize("NFKC", stripped)
    text = _WHITE_SPACE_RUN.sub(" ", text).strip(" ")
    return text.lower().replace("\u03c2", "\u03c3")


class HoldBack:
    """Holds back the end of a stream's answer text, so that a match split across chunks
    is caught before any of it reaches the client.

    A stream filter checks, for each chunk, the text not yet sent (:meth:`unsent`: what
    is held plus what the chunk brings), then lets :meth:`apply` rewrite the chunk so that
    it carries only what may go out now: everything but the last ``window`` characters
    of each choice. The chunk that ends a choice (it has a ``finish_reason``) carries the
    rest. Nothing is lost and nothing unchecked is sent::

        hold = HoldBack(4)
        chunk = testing.chunk({"choices": [{"index": 0, "delta": {"content": "the sec"}}]})
        hold.unsent(chunk)          # ["the sec"]
        hold.apply(chunk)           # chunk.text() == "the"
        chunk = testing.chunk({"choices": [{"index": 0, "delta": {"content": "ret plan"}}]})
        hold.unsent(chunk)          # [" secret plan"]
        hold.apply(chunk)           # chunk.text() == " secret "
        last = testing.chunk({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        hold.apply(last)            # last.text() == "plan"

    Keep one per stream: in the per-request context (``new_ctx``), which the SDK makes
    fresh for every request. Characters are code points, as Rust's ``char``.
    """

    def __init__(self, window):
        """Holds back the last ``window`` characters of each choice, counted as
        :func:`normalize` keeps them (an invisible character counts for nothing, a run of
        white space for one): one less than the longest text to catch suffices for a
        plain match; a few more cover what normalization joins (a letter and a combining
        mark in different chunks)."""
        if isinstance(window, bool) or not isinstance(window, int) or window < 0:
            raise ValueError(f"HoldBack: the window is a number of characters, not {window!r}")
        self.window = window
        self._held = []  # per choice, the text held back

    def unsent(self, chunk):
        """Per choice the chunk touches (by index, from 0), the text not yet sent once
        this chunk is in: what is held plus what the chunk brings. What a check should
        look at."""
        incoming = _incoming(chunk)
        choices = max(len(incoming), len(self._held))
        return [
            (self._held[c] if c < len(self._held) else "") + (incoming[c] if c < len(incoming) else "")
            for c in range(choices)
        ]

    def apply(self, chunk):
        """Takes the chunk's answer text into the window and rewrites the chunk to carry
        what may be sent now; a choice that ends in this chunk gets everything still held.
        Raises :class:`~hookgate_sdk.EditError` if the host refuses the edit."""
        incoming = _incoming(chunk)
        if len(self._held) < len(incoming):
            self._held.extend([""] * (len(incoming) - len(self._held)))
        for choice in range(len(self._held)):
            brought = incoming[choice] if choice < len(incoming) else ""
            ends = chunk.finish_reason(choice) is not None
            if not brought and not ends:
                continue
            self._held[choice] += brought
            if ends:
                released, self._held[choice] = self._held[choice], ""
            else:
                released = self._release(choice)
            if released != brought:
                chunk.set_content(choice, released)

    def finish(self, choice):
        """Everything held for ``choice``, released (for a stream that ends without a
        ``finish_reason``)."""
        if choice >= len(self._held):
            return ""
        held, self._held[choice] = self._held[choice], ""
        return held

    def _release(self, choice):
        held = self._held[choice]
        cut = _kept_from(held, self.window)
        self._held[choice] = held[cut:]
        return held[:cut]

    def __repr__(self):
        return f"HoldBack({self.window}, held={self._held!r})"


def _kept_from(text, window):
    """Where the last ``window`` characters of ``text`` start, counted as :func:`normalize`
    keeps them: a Default_Ignorable_Code_Point counts for nothing and a run of White_Space
    for one. Counted raw, zero-width characters or a run of spaces between a keyword's
    letters would push its first letters out of the window before the rest came."""
    counted = 0
    space_after = False  # whether the counted character to the right was White_Space
    for at in range(len(text) - 1, -1, -1):
        c = text[at]
        if is_default_ignorable(c):
            continue
        space = is_white_space(c)
        if not (space and space_after):
            if counted == window:
                return at + 1
            counted += 1
        space_after = space
    return 0


def _incoming(chunk):
    """Per choice (by index), the answer text a chunk brings."""
    per_choice = []
    for text in chunk.answer_texts():
        choice = text.item or 0
        if len(per_choice) <= choice:
            per_choice.extend([""] * (choice + 1 - len(per_choice)))
        per_choice[choice] += text
    return per_choice
