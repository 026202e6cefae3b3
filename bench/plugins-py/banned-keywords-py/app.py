"""banned-keywords in Python, for `make bench`: the Rust example plugins/banned-keywords.

Config: ``{"keywords": ["forbidden", "secret plan"], "message": "optional", "status": 400}``.
Requests (pre_call), responses (post_call_success) and streams (stream_chunk, with the
last characters kept so a keyword split across chunks is found) are checked,
case-insensitively; a match is rejected with ``status`` and code ``banned_keyword``.
"""

from hookgate_sdk import Plugin, Rejection, export


class BannedKeywords(Plugin):
    name = "banned-keywords"
    version = "0.1.0"

    def __init__(self, config):
        config = config or {}
        if not isinstance(config, dict):
            raise ValueError("the config must be an object")
        unknown = set(config) - {"keywords", "message", "status"}
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(sorted(unknown))}")
        keywords = config.get("keywords")
        if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) and k.strip() for k in keywords):
            raise ValueError("`keywords` must be a non-empty list of non-empty strings")
        self.status = config.get("status", 400)
        if not isinstance(self.status, int) or not 400 <= self.status <= 499:
            raise ValueError(f"`status` must be a 4xx HTTP status, not {self.status}")
        self.keywords = [k.lower() for k in keywords]
        self.message = config.get("message")
        self.longest = max(len(k) for k in self.keywords)
        self.tail = ""

    def check(self, text, what):
        keyword = next((k for k in self.keywords if k in text), None)
        if keyword is not None:
            message = self.message or f"{what} contains a banned keyword: {keyword}"
            raise Rejection(self.status, message, "banned_keyword")

    def pre_call(self, req):
        self.tail = ""  # each request's stream starts afresh, also on a reused instance
        for text in req.texts():
            self.check(text.lower(), "Request")

    def post_call_success(self, req, resp):
        for text in resp.texts():
            self.check(text.lower(), "Response")

    def stream_chunk(self, ctx, chunk):
        delta = chunk.delta_text
        if delta is None:
            return None
        window = self.tail + delta.lower()
        self.check(window, "Response")
        self.tail = window[len(window) - (self.longest - 1):] if self.longest > 1 else ""


WitWorld = export(BannedKeywords)
