"""How a hook says no, and the errors the SDK raises.

- :class:`Rejection` is the plugin's *answer*: the client gets its status (a 4xx) and
  message as an OpenAI error.
- Any other exception is a *failure*: the host handles it like a crash, by the plugin's
  ``on_error`` policy, and the client never sees its text (the operator's log does).
  :class:`Fail` is a failure with exactly the reason you give; anything else is reported
  as ``ExceptionType: text``, with the traceback on the guest's stderr (the host's log).
- :class:`EditError`: the host refused an edit (nothing changed). Left uncaught, a failure.
- :class:`KvError`: a kv call failed. Left uncaught, a failure.
"""

__all__ = ["Rejection", "Fail", "EditError", "KvError"]


class Rejection(Exception):
    """A plugin's refusal: the client gets ``status`` (a 4xx; the host clamps anything
    else to 400) and ``message`` as an OpenAI error, with ``code`` as ``error.code`` (the
    status when ``None``). ``raise Rejection.bad_request("no", code="impolite")``."""

    def __init__(self, status, message, code=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    @classmethod
    def bad_request(cls, message, code=None):
        """A 400 Bad Request: the usual refusal of a request's content."""
        return cls(400, message, code)

    @classmethod
    def forbidden(cls, message, code=None):
        """A 403 Forbidden: the caller may not do this."""
        return cls(403, message, code)

    @classmethod
    def too_many_requests(cls, message, code=None):
        """A 429 Too Many Requests: for rate and budget limits."""
        return cls(429, message, code)

    def __repr__(self):
        return f"Rejection({self.status!r}, {self.message!r}, code={self.code!r})"


class Fail(Exception):
    """A failure with ``reason`` as its message, exactly (other exceptions are reported
    with their type name). ``raise Fail("the pattern list is empty")``: a fault, handled
    by the plugin's ``on_error`` policy, like the Rust SDK's ``fail(reason)``."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = str(reason)


class EditError(Exception):
    """The host refused an edit; nothing changed. ``kind`` is the contract's case:

    - ``"read_only"``: this hook may not edit this value (the request after pre-call,
      anything in moderation or the logging hooks);
    - ``"no_such_text"``: no text has position ``detail``;
    - ``"invalid"``: the value is not JSON, or not what it must be (``detail`` says why);
    - ``"too_large"``: the edited body would be ``detail`` bytes, over the plugin's
      ``max_output_bytes``.

    Left uncaught it fails the hook (``edit refused: ...``), as ``?`` does in Rust.
    """

    def __init__(self, kind, detail=None):
        self.kind = kind
        self.detail = detail
        super().__init__(self._text())

    def _text(self):
        if self.kind == "read_only":
            return "this hook may not edit it"
        if self.kind == "no_such_text":
            return f"no text at position {self.detail}"
        if self.kind == "too_large":
            return f"the edited body would be {self.detail} bytes, over the plugin's max_output_bytes"
        return str(self.detail)

    def __repr__(self):
        return f"EditError({self.kind!r}, {self.detail!r})"


class KvError(Exception):
    """A kv call failed. ``unavailable``: the store could not be reached or did not
    answer in time (retrying later may work); otherwise the call itself was wrong (e.g.
    ``incr`` on a value that is not an integer) or the plugin's kv quota is full.
    ``detail`` is the host's explanation."""

    def __init__(self, detail, unavailable):
        self.detail = detail
        self.unavailable = unavailable
        prefix = "kv store unavailable" if unavailable else "invalid kv call"
        super().__init__(f"{prefix}: {detail}")
