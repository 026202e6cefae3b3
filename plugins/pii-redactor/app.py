"""pii-redactor: masks e-mail addresses and phone numbers before they reach the model,
and in what the model sends back.

Config (all optional)::

    {"mask_email": "[EMAIL]", "mask_phone": "[PHONE]", "responses": true}

The masks are ``re.sub`` replacements (``\\g<0>`` is the match).

- ``pre_call`` masks every text of the request the model reads (``req.map_texts``:
  message contents and names, tool call arguments, tool and schema descriptions,
  prompts, ...); the host rewrites the request only when something was masked.
- ``post_call_success`` masks every text of a non-streamed response (``resp.map_texts``),
  unless ``responses`` is false.
- ``stream_chunk`` masks the streamed answer. A match can span chunks, so the last
  ``HOLD`` characters of each choice are held back (``HoldBack``) and sent with a later
  chunk: an address or number is seen whole, and masked, before any of it is sent. The
  chunk with ``finish_reason`` sends everything still held. A mask is sent where its match
  starts; the rest of the match, if it was still held, is sent as nothing. (An address
  longer than ``HOLD`` characters can be sent in part before it is recognised.)

It reads and edits texts through the host's view of the request and response: it has no
JSON parser of its own for bodies. Per-request stream state lives in ``ctx``, which the
SDK makes fresh for every request.
"""

import re
import types

from hookgate_sdk import HoldBack, Plugin, export

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# International or North American numbers: +44 20 7946 0958, (555) 123-4567, 555.123.4567.
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}(?!\w)")
# What every PHONE match holds (the same `\d`: any Unicode decimal digit).
DIGIT = re.compile(r"\d")
# Characters of each streamed choice held back: longer than any phone number and nearly
# every e-mail address (64 is the longest local part RFC 5321 allows).
HOLD = 64


class PiiRedactor(Plugin):
    name = "pii-redactor"
    version = "0.2.0"

    def __init__(self, config):
        config = config or {}
        if not isinstance(config, dict):
            raise ValueError("the config must be an object")
        unknown = set(config) - {"mask_email", "mask_phone", "responses"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        self.mask_email = str(config.get("mask_email", "[EMAIL]"))
        self.mask_phone = str(config.get("mask_phone", "[PHONE]"))
        self.responses = bool(config.get("responses", True))

    def new_ctx(self):
        # One stream's state: the held-back text, and per choice how many held characters
        # belong to a match whose mask was sent already, and the character before them.
        return types.SimpleNamespace(hold=HoldBack(HOLD), pending=[], before=[])

    def mask(self, text):
        # Each pattern is tried at every position of the text; a text without an `@` or
        # without a digit (most prompts and answers) cannot hold a match, and one C-level
        # search says so for a fraction of a scan.
        if "@" in text:
            text = EMAIL.sub(self.mask_email, text)
        if DIGIT.search(text):
            text = PHONE.sub(self.mask_phone, text)
        return text

    def pre_call(self, ctx, req):
        req.map_texts(self.mask)

    def post_call_success(self, ctx, req, resp):
        if self.responses:
            resp.map_texts(self.mask)

    def stream_chunk(self, ctx, req, chunk):
        unsent = ctx.hold.unsent(chunk)
        ctx.hold.apply(chunk)  # the chunk now carries what may be sent: a prefix of unsent
        released = [""] * len(unsent)
        for text in chunk.answer_texts():
            if text.item is not None and text.item < len(released):
                released[text.item] += text
        for choice, text in enumerate(unsent):
            if released[choice]:
                masked = self.release(ctx, choice, text, len(released[choice]))
                if masked != released[choice]:
                    chunk.set_content(choice, masked)

    def release(self, ctx, choice, unsent, count):
        """What to send of the first ``count`` characters of ``unsent`` (choice
        ``choice``'s text not yet sent, with the ``HOLD`` characters after them): that text
        with every match starting in it masked, as ``mask`` would mask the whole answer."""
        while len(ctx.pending) <= choice:
            ctx.pending.append(0)
            ctx.before.append("")
        # `before`: the character before `unsent`, as `mask` sees it after masking e-mail
        # addresses (for the phone pattern's look-behind); `at`: characters of a match
        # whose mask was sent already.
        before, at = ctx.before[choice], ctx.pending[choice]
        # As `mask` does: e-mail addresses first, then numbers in the text with the
        # addresses masked. `masked` is that text; `origin` says which character of
        # `unsent` each of its characters is (None: `before` or a mask); `start` where in
        # `masked` each position of `unsent` outside an address is.
        masked, origin, start = [before], [None] * len(before), {}
        spans, position = [], at

        def keep(until):
            size = sum(map(len, masked))
            for offset in range(until - position + 1):
                start[position + offset] = size + offset
            masked.append(unsent[position:until])
            origin.extend(range(position, until))

        for match in EMAIL.finditer(unsent, at):
            keep(match.start())
            mask = match.expand(self.mask_email)
            masked.append(mask)
            origin.extend([None] * len(mask))
            spans.append((match.start(), match.end(), mask))
            position = match.end()
        keep(len(unsent))
        masked = "".join(masked)
        for match in PHONE.finditer(masked, len(before)):
            chars = origin[match.start() : match.end()]
            if chars and None not in chars:
                spans.append((chars[0], chars[-1] + 1, match.expand(self.mask_phone)))
        out = []
        for begin, end, mask in sorted(spans):
            if begin >= count:
                break
            out += [unsent[at:begin], mask]
            at = end
        if at < count:
            out.append(unsent[at:count])
        # What is held from here on starts `max(at, count)` characters in.
        rest = max(at, count)
        ctx.pending[choice] = rest - count
        ctx.before[choice] = masked[start[rest] - 1] if start[rest] > 0 else ""
        return "".join(out)


WitWorld = export(PiiRedactor)
