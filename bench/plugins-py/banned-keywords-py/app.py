"""banned-keywords: rejects requests and responses that mention a banned keyword (a Python
port of plugins/banned-keywords).

Texts and keywords are compared after ``normalize`` (NFKC, invisible characters removed,
whitespace runs as one space, lower-cased), so ``SECRET PLAN``, ``secret<NBSP>plan``,
fullwidth ``ｓｅｃｒｅｔ plan`` and ``se<ZWSP>cret plan`` all match the keyword
``secret plan``. Look-alike letters from other scripts are not folded.

Config::

    {"keywords": ["forbidden", "secret plan"], "message": "optional text", "status": 400}

- ``keywords`` (required): a non-empty list of non-empty strings.
- ``message``: the rejection's message; by default one naming the keyword.
- ``status``: a 4xx status, 400 by default.

``pre_call`` checks every text of the request the model reads (``req.texts()``: message
contents and names, tool calls, tool and schema descriptions, prompts, ...), and the text
parts of each content joined (the model reads them as one text), ``post_call_success``
the response's texts the same way, and ``stream_chunk`` the texts each chunk
adds (with the stream's last ``longest`` normalized characters kept, so a keyword split
across chunks is still found, even when the split falls inside a character that
normalization composes, like ``cafe`` + U+0301). While streaming it also holds the end of
the answer back (``HoldBack``, twice the longest keyword), so a keyword split across
chunks is refused before any of it reaches the client. A rejection has code
``banned_keyword``. The stream's state is per request (``new_ctx``).
"""

import types

from hookgate_sdk import HoldBack, Plugin, Rejection, export, is_default_ignorable, is_white_space, normalize

FIELDS = ("keywords", "message", "status")


class BannedKeywords(Plugin):
    name = "banned-keywords"
    version = "0.2.0"

    def __init__(self, config):
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ValueError("expected an object with `keywords`")
        for field in config:
            if field not in FIELDS:
                raise ValueError(f"unknown field `{field}`, expected one of `keywords`, `message`, `status`")
        if "keywords" not in config:
            raise ValueError("missing field `keywords`")
        keywords = config["keywords"]
        if not isinstance(keywords, list) or not keywords or any(not isinstance(k, str) or not k.strip() for k in keywords):
            raise ValueError("`keywords` must be a non-empty list of non-empty strings")
        message = config.get("message")
        if message is not None and not isinstance(message, str):
            raise ValueError("`message` must be a string")
        status = config.get("status", 400)
        if isinstance(status, bool) or not isinstance(status, int) or not 0 <= status <= 65535:
            raise ValueError("`status` must be an HTTP status number")
        if not 400 <= status <= 499:
            raise ValueError(f"`status` must be a 4xx HTTP status, not {status}")
        self.keywords = [normalize(k) for k in keywords]
        if not all(self.keywords):
            raise ValueError("`keywords` must be a non-empty list of non-empty strings")
        self.longest = max(len(k) for k in self.keywords)
        self.message, self.status = message, status

    def new_ctx(self):
        # tail: the stream's last `longest` characters, normalized; hold: the answer text
        # not yet sent.
        return types.SimpleNamespace(tail="", hold=HoldBack(2 * self.longest))

    def check(self, text, what):
        keyword = next((k for k in self.keywords if k in text), None)
        if keyword is not None:
            message = self.message if self.message is not None else f"{what} contains a banned keyword: {keyword}"
            raise Rejection(self.status, message, code="banned_keyword")

    def check_all(self, texts, what):
        for text in texts:
            self.check(normalize(text), what)
        # The model reads a message's text parts as one text, joined back to back or with
        # a line break: a phrase split across them is checked joined both ways.
        for parts in content_part_runs(texts):
            for separator in ("", " "):
                self.check(normalize(separator.join(parts)), what)

    def pre_call(self, ctx, req):
        self.check_all(req.texts(), "Request")

    def post_call_success(self, ctx, req, resp):
        self.check_all(resp.texts(), "Response")

    def stream_chunk(self, ctx, req, chunk):
        delta = "".join(chunk.texts())
        if delta:
            # The tail is normalized already; normalizing it again with the delta joins a
            # keyword split across chunks. normalize() trims: text that ends in white space
            # keeps one space, so that the next chunk's first word does not join this one's last.
            text = ctx.tail + delta
            window = normalize(text)
            if window and ends_in_white_space(text):
                window += " "
            ctx.tail = ""
            self.check(window, "Response")
            # A keyword wholly in the tail was found already; keeping one character more than
            # `longest - 1` covers a split that normalization merges (`cafe` + U+0301 = `café`).
            ctx.tail = window[-self.longest :]
        # Send only what cannot be the start of a keyword still arriving.
        ctx.hold.apply(chunk)


def content_part_runs(texts):
    """The texts of each content made of several parts (``.../content/<n>/text`` or
    ``/refusal``), in order: a client can split ``secret plan`` into the parts ``the secret``
    and `` plan``, which no text holds alone."""
    runs = []  # [content path, [texts]]
    for text in texts:
        content = content_of(text.path)
        if content is None:
            continue
        if runs and runs[-1][0] == content:
            runs[-1][1].append(text.text)
        else:
            runs.append([content, [text.text]])
    return [parts for _, parts in runs if len(parts) > 1]


def content_of(path):
    """The path of the content a text part's ``path`` is in, or ``None`` for other texts."""
    for suffix in ("/text", "/refusal"):
        if path.endswith(suffix):
            content, _, index = path[: -len(suffix)].rpartition("/")
            if content.endswith("/content") and all("0" <= c <= "9" for c in index):
                return content
            return None
    return None


def ends_in_white_space(text):
    """Whether the last character of ``text`` that is not an invisible one is White_Space."""
    return next((is_white_space(c) for c in reversed(text) if not is_default_ignorable(c)), False)


WitWorld = export(BannedKeywords)
