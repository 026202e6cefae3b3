"""pii-redactor: masks e-mail addresses and phone numbers before they reach the model,
and in what the model streams back.

Config (all optional)::

    {"mask_email": "[EMAIL]", "mask_phone": "[PHONE]", "responses": true}

- ``pre_call`` masks every text of the request the model reads (``req.map_texts``:
  message contents and names, tool call arguments, tool and schema descriptions,
  prompts, ...) and rewrites the request only when something was masked.
- ``stream_chunk`` masks the streamed text. A match can span chunks, so a chunk's tail
  that could still grow into one (its last word, and a run of digits, spaces and
  ``+().-`` before it) is held back and sent with the next chunk; the chunk with
  ``finish_reason`` sends everything, and so does a tail past 256 characters.
- ``post_call_success`` masks a non-streamed response, unless ``responses`` is false.
"""

import re

from hookgate_sdk import Chunk, ChunkOutcome, Plugin, PostCall, PreCall, export

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# What may still be the start of an address or a number at the end of streamed text.
OPEN_TAIL = re.compile(r"[\d().+\- ]*\S*$")
MAX_HELD = 256
# International or North American numbers: +44 20 7946 0958, (555) 123-4567, 555.123.4567.
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}(?!\w)")


class PiiRedactor(Plugin):
    name = "pii-redactor"
    version = "0.1.0"

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
        self.held = ""  # the stream's held-back tail

    def mask(self, text):
        return PHONE.sub(self.mask_phone, EMAIL.sub(self.mask_email, text))

    def pre_call(self, req):
        # Every request starts here: a reused instance (`instances: reuse`) must not
        # carry a cut-off stream's held text into another request's answer.
        self.held = ""
        body = req.map_texts(self.mask)
        return None if body is None else PreCall.modify(body)

    def stream_chunk(self, ctx, chunk):
        text = chunk.delta_text
        if text is None and not self.held:
            return None
        text = self.held + (text or "")
        cut = OPEN_TAIL.search(text).start()
        if chunk.finish_reason is None and len(text) - cut <= MAX_HELD:
            text, self.held = text[:cut], text[cut:]
        else:
            self.held = ""
        chunk.delta_text = self.mask(text)
        return ChunkOutcome.replace(chunk)

    def post_call_success(self, req, resp):
        if not self.responses:
            return None
        body, changed = resp.json, False
        for choice in body.get("choices") or []:
            message = choice.get("message") or {}
            if isinstance(message.get("content"), str):
                masked = self.mask(message["content"])
                changed |= masked != message["content"]
                message["content"] = masked
        return PostCall.edit(body=body) if changed else None


WitWorld = export(PiiRedactor)
