"""``HTTPException(status_code, detail=None, headers=None)``, as FastAPI's (Starlette's).

Raised (or returned, where LiteLLM accepts that) by a LiteLLM callback, hookgate turns it
into a rejection: the client gets ``status_code`` and a message from ``detail`` (a str as
it is; a dict's ``error`` entry when that is a str, else the dict as compact JSON; none:
the status's reason phrase). hookgate's rejections are 4xx: another status is sent as 400
(and logged by the host). ``headers`` are not sent.
"""

import http

__all__ = ["HTTPException"]


class HTTPException(Exception):
    def __init__(self, status_code, detail=None, headers=None):
        if detail is None:
            try:
                detail = http.HTTPStatus(status_code).phrase
            except ValueError:
                detail = None
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers

    def __str__(self):
        return f"{self.status_code}: {self.detail}"

    def __repr__(self):
        return f"{type(self).__name__}(status_code={self.status_code!r}, detail={self.detail!r})"
