"""What the hooks that decide something may return besides ``None`` (go on).

- ``pre_call``: ``return PreCall.respond(text)`` answers the client directly.
- ``stream_chunk``: ``return ChunkOutcome.DROP`` does not forward the chunk.

Anything else a hook returns (other than ``None``) does not fit it: the SDK turns it into
a failure naming the hook and the value.
"""

import enum

__all__ = ["PreCall", "ChunkOutcome", "Respond"]


class Respond:
    """``PreCall.respond(text)``: answer the client with ``text`` without calling the
    upstream."""

    __slots__ = ("text",)

    def __init__(self, text):
        self.text = text

    def __eq__(self, other):
        return isinstance(other, Respond) and other.text == self.text

    def __hash__(self):
        return hash(("respond", self.text))

    def __repr__(self):
        return f"PreCall.respond({self.text!r})"


class PreCall:
    """What ``pre_call`` may return: ``None`` (or ``PreCall.PROCEED``) goes on, with the
    edits made to the request; ``PreCall.respond(text)`` answers directly."""

    PROCEED = None

    @staticmethod
    def respond(text):
        """Answer the client with ``text`` without calling the upstream: a normal
        completion for chat and text completions (streamed if asked), a 400 for
        embeddings."""
        return Respond(text)


class ChunkOutcome(enum.Enum):
    """What ``stream_chunk`` may return: ``None`` or ``PROCEED`` forwards the chunk (with
    the edits made to it), ``DROP`` does not."""

    PROCEED = "proceed"
    DROP = "drop"

    def __repr__(self):
        return f"ChunkOutcome.{self.name}"
