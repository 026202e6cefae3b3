"""banned-keywords: rejects requests and responses that mention a banned keyword,
case-insensitively (a Python port of plugins/banned-keywords).

Config::

    {"keywords": ["forbidden", "secret plan"], "message": "optional text", "status": 400}

- ``keywords`` (required): a non-empty list of non-empty strings.
- ``message``: the rejection's message; by default one naming the keyword.
- ``status``: a 4xx status, 400 by default.

``pre_call`` checks the request's texts, ``post_call_success`` the response's, and
``stream_chunk`` each streamed delta (with the stream's last ``longest - 1`` characters
kept, so a keyword split across chunks is still found). A rejection has code
``banned_keyword``.
"""

from hookgate_sdk import Plugin, Rejection, export

FIELDS = ("keywords", "message", "status")


class BannedKeywords(Plugin):
    name = "banned-keywords"
    version = "0.1.0"

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
        self.keywords = [k.lower() for k in keywords]
        self.longest = max(len(k) for k in self.keywords)
        self.message, self.status = message, status
        self.tail = ""  # the stream's last `longest - 1` characters, lower-cased

    def check(self, text, what):
        keyword = next((k for k in self.keywords if k in text), None)
        if keyword is not None:
            message = self.message if self.message is not None else f"{what} contains a banned keyword: {keyword}"
            raise Rejection(self.status, message, code="banned_keyword")

    def pre_call(self, req):
        self.tail = ""  # a reused instance starts each request's stream afresh
        for text in req.texts():
            self.check(text.lower(), "Request")

    def post_call_success(self, req, resp):
        for text in resp.texts():
            self.check(text.lower(), "Response")

    def stream_chunk(self, ctx, chunk):
        # Every choice's delta text, as the Rust SDK's `delta_text` concatenates them.
        parts = [(c.get("delta") or {}).get("content") for c in chunk.json.get("choices") or [] if isinstance(c, dict)]
        parts = [p for p in parts if isinstance(p, str)]
        if not parts:
            return None
        window, self.tail = self.tail + "".join(parts).lower(), ""
        self.check(window, "Response")
        keep = self.longest - 1
        self.tail = window[len(window) - keep:] if keep else ""
        return None


WitWorld = export(BannedKeywords)
