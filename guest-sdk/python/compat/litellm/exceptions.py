"""LiteLLM's exception classes, as a hookgate plugin meets them.

- A callback may return or raise ``RejectedRequestError`` from ``async_pre_call_hook``:
  hookgate answers the client with its message (LiteLLM's "return a rejected message as
  response").
- ``async_post_call_failure_hook`` and ``async_log_failure_event`` get the error the
  client got as one of these, chosen by its status (``RateLimitError`` for a 429, ...),
  or as ``fastapi.HTTPException`` when a plugin's rejection caused it. Every one carries
  ``status_code``, ``message`` and ``code`` (the OpenAI error code, or ``None``).
"""

__all__ = [
    "APIError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "Timeout",
    "UnprocessableEntityError",
    "ContextWindowExceededError",
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
    "APIConnectionError",
    "RejectedRequestError",
]


class APIError(Exception):
    """An error from the model call or the proxy: ``status_code``, ``message``, ``code``,
    ``llm_provider``, ``model``."""

    status_code = 500

    def __init__(self, message="", llm_provider=None, model=None, status_code=None, code=None, **_details):
        super().__init__(message)
        self.message = message
        self.llm_provider = llm_provider
        self.model = model
        self.code = code
        if status_code is not None:
            self.status_code = status_code

    def __str__(self):
        return str(self.message)


class BadRequestError(APIError):
    status_code = 400


class AuthenticationError(APIError):
    status_code = 401


class PermissionDeniedError(APIError):
    status_code = 403


class NotFoundError(APIError):
    status_code = 404


class Timeout(APIError):
    status_code = 408


class UnprocessableEntityError(APIError):
    status_code = 422


class ContextWindowExceededError(BadRequestError):
    pass


class RateLimitError(APIError):
    status_code = 429


class InternalServerError(APIError):
    status_code = 500


class ServiceUnavailableError(APIError):
    status_code = 503


class APIConnectionError(APIError):
    status_code = 500


class RejectedRequestError(BadRequestError):
    """Return (or raise) it from ``async_pre_call_hook`` to answer the client with
    ``message`` instead of calling the model. Its ``message``, which the client reads, is
    prefixed as in LiteLLM: ``litellm.BadRequestError: litellm.RejectedRequestError: ...``."""

    def __init__(self, message, model="", llm_provider="", request_data=None, litellm_debug_info=None):
        message = f"litellm.BadRequestError: litellm.RejectedRequestError: {message}"
        super().__init__(message, llm_provider=llm_provider, model=model)
        self.request_data = request_data
        self.litellm_debug_info = litellm_debug_info
