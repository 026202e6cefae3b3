"""Outbound HTTP: call another service from a hook, through ``wasi:http``.

The proxy refuses every call unless its operator granted the plugin destinations
(``plugins.outbound.<plugin>`` in the proxy config: scheme, host, port and path prefix).
Calls are bounded by the hook's deadline and the grant's caps, and redirects are not
followed (a 3xx comes back as the answer).

Secrets are never handed to the plugin: write ``${secret:<name>}`` in a header value or
the body, and the proxy fills in the secret the operator bound under that name after the
request leaves the plugin, only for allowed destinations. What the plugin logs or echoes
shows the placeholder::

    from hookgate_sdk import http
    try:
        answer = http.post("https://guard.internal/analyze/prompt",
                           {"content-type": "application/json"},
                           json.dumps({"prompt": text}), timeout_ms=2000)
    except http.HttpError as error:   # error.kind: denied, timeout, too_large, unreachable, failed
        ...

Errors are :class:`HttpError` with the same kinds, named the same, as in the Rust and JS
SDKs. In plain CPython (unit tests) calls go to :class:`hookgate_sdk.testing.LocalHost`'s
``http`` responder.
"""

import json as _json

from . import _host

__all__ = ["HttpError", "HttpResponse", "post", "get", "request"]

#: The kinds of :class:`HttpError`, as in every SDK.
KINDS = ("denied", "timeout", "too_large", "unreachable", "failed")


class HttpError(Exception):
    """Why a call got no answer. ``kind`` is ``denied`` (the proxy refused it: no grant,
    a destination outside the allow-list, a forbidden address, too many calls, an unbound
    secret; the proxy's log says which), ``timeout``, ``too_large`` (the request or the
    answer is over the grant's cap), ``unreachable`` (refused connection, unknown name)
    or ``failed`` (anything else)."""

    def __init__(self, kind, message):
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message


class HttpResponse:
    """An answer: ``status``, ``headers`` (a list of ``(name, value)``, names lower-case)
    and the whole ``body`` (bytes)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        """The first header named ``name`` (case-insensitive), or ``None``."""
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    @property
    def text(self):
        """The body as text (invalid UTF-8 replaced)."""
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body parsed as JSON; :class:`HttpError` ``failed`` when it is not."""
        try:
            return _json.loads(self.body)
        except ValueError as error:
            raise HttpError("failed", f"the answer is not JSON: {error}") from None

    def __repr__(self):
        return f"HttpResponse({self.status}, {len(self.body)} bytes)"


def post(url, headers=None, body=b"", timeout_ms=None):
    """``POST url`` with ``headers`` (a dict or a list of pairs) and ``body`` (str or
    bytes); ``timeout_ms`` bounds the wait for the whole answer."""
    return request("POST", url, headers, body, timeout_ms)


def get(url, headers=None, timeout_ms=None):
    """``GET url`` with ``headers``."""
    return request("GET", url, headers, None, timeout_ms)


def request(method, url, headers=None, body=None, timeout_ms=None):
    """A call with any method; returns an :class:`HttpResponse` or raises :class:`HttpError`."""
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    pairs = [(str(name).lower(), str(value)) for name, value in pairs]
    if isinstance(body, str):
        body = body.encode("utf-8")
    https, authority, path = _split(url)
    if _host.local is not None:
        return _host.local.http_request(method.upper(), url, pairs, body, timeout_ms)
    return _send(method.upper(), https, authority, path, pairs, body, timeout_ms)


def _split(url):
    scheme, sep, rest = str(url).partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest or rest[0] in "/?":
        raise HttpError("failed", f"{url!r} is not an http:// or https:// URL")
    cut = min([i for i in (rest.find("/"), rest.find("?")) if i >= 0], default=len(rest))
    return scheme.lower() == "https", rest[:cut], rest[cut:] or "/"


def _send(method, https, authority, path, headers, body, timeout_ms):
    types = _host.imports("wasi_http_types")
    handler = _host.imports("outgoing_handler")
    streams = _host.imports("streams")
    Err = _host.err_class()
    methods = {
        "GET": types.Method_Get, "POST": types.Method_Post, "PUT": types.Method_Put,
        "DELETE": types.Method_Delete, "PATCH": types.Method_Patch, "HEAD": types.Method_Head,
    }  # fmt: skip
    try:
        fields = types.Fields.from_list([(name, value.encode("utf-8")) for name, value in headers])
    except Err as error:
        raise HttpError("failed", f"bad header: {error.value}") from None
    outgoing = types.OutgoingRequest(fields)
    outgoing.set_method(methods[method]() if method in methods else types.Method_Other(method))
    outgoing.set_scheme(types.Scheme_Https() if https else types.Scheme_Http())
    outgoing.set_authority(authority)
    outgoing.set_path_with_query(path)
    out_body = outgoing.body()
    options = types.RequestOptions()
    if timeout_ms is not None:
        options.set_first_byte_timeout(int(timeout_ms) * 1_000_000)
    try:
        future = handler.handle(outgoing, options)
    except Err as error:
        raise _error(types, error.value) from None
    stream = out_body.write()
    data = body or b""
    try:
        for start in range(0, len(data), 4096):
            stream.blocking_write_and_flush(data[start : start + 4096])
    except Err:
        pass  # the host refused the call; its answer says why
    stream.__exit__(None, None, None)
    types.OutgoingBody.finish(out_body, None)
    answer = future.get()
    while answer is None:
        future.subscribe().block()
        answer = future.get()
    if isinstance(answer, Err):
        raise HttpError("failed", "the answer was already taken")
    answer = answer.value
    if isinstance(answer, Err):
        raise _error(types, answer.value)
    response = answer.value
    status = response.status()
    headers = [(name, value.decode("utf-8", "replace")) for name, value in response.headers().entries()]
    incoming = response.consume()
    input_stream = incoming.stream()
    chunks = []
    while True:
        try:
            chunks.append(input_stream.blocking_read(65536))
        except Err as error:
            if isinstance(error.value, streams.StreamError_Closed):
                break
            raise HttpError("failed", "the answer's body broke off") from None
    input_stream.__exit__(None, None, None)
    types.IncomingBody.finish(incoming)
    return HttpResponse(status, headers, b"".join(chunks))


def _error(types, code):
    """The :class:`HttpError` of a ``wasi:http`` error code, as every SDK maps it."""
    denied = {
        types.ErrorCode_HttpRequestDenied: "the destination is not in this plugin's outbound grant (see the proxy log)",
        types.ErrorCode_DestinationIpProhibited: "the destination's address is forbidden to plugins (see the proxy log)",
        types.ErrorCode_ConnectionLimitReached: "more calls than the plugin's grant allows (see the proxy log)",
    }
    for case, why in denied.items():
        if isinstance(code, case):
            return HttpError("denied", why)
    if isinstance(code, (types.ErrorCode_HttpResponseTimeout, types.ErrorCode_ConnectionTimeout, types.ErrorCode_ConnectionReadTimeout)):
        return HttpError("timeout", "no complete answer in time")
    if isinstance(code, (types.ErrorCode_HttpRequestBodySize, types.ErrorCode_HttpResponseBodySize)):
        return HttpError("too_large", "the request or the answer is over the grant's size cap")
    unreachable = (
        types.ErrorCode_ConnectionRefused, types.ErrorCode_DnsError, types.ErrorCode_DestinationNotFound,
        types.ErrorCode_DestinationUnavailable, types.ErrorCode_DestinationIpUnroutable,
    )  # fmt: skip
    if isinstance(code, unreachable):
        return HttpError("unreachable", type(code).__name__.removeprefix("ErrorCode_"))
    return HttpError("failed", type(code).__name__.removeprefix("ErrorCode_"))
