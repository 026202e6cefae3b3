"""hookgate's stand-in for the ``litellm`` package, so that a LiteLLM ``custom_callbacks.py``
builds, unchanged, into hookgate plugins (``guest-sdk/python/build.py FILE --handler NAME``).

It is not LiteLLM: it has no model calls, router or proxy. It provides what callback
files import, with LiteLLM's names and shapes:

- ``litellm.integrations.custom_logger.CustomLogger`` and
  ``litellm.integrations.custom_guardrail.CustomGuardrail``, the base classes;
- ``litellm.proxy.proxy_server`` / ``litellm.proxy._types``: ``UserAPIKeyAuth``;
  ``litellm.caching`` (and ``.dual_cache``, ``.caching``): ``DualCache``, over hookgate's
  kv store;
- the response objects: ``litellm.ModelResponse``, ``ModelResponseStream``, ``Choices``,
  ``Message``, ``Delta``, ``Usage``, ... (also in ``litellm.types.utils`` and
  ``litellm.utils``);
- ``litellm.exceptions`` (``RejectedRequestError``, ``RateLimitError``, ...);
- ``litellm.utils.get_formatted_prompt``, ``print_verbose``; the loggers of
  ``litellm._logging``;
- module attributes callback files read: ``callbacks``, ``success_callback``,
  ``failure_callback``, ``input_callback`` (lists nothing reads: which handler runs is
  decided when the plugin is built, and by ``litellm_settings.callbacks`` in the proxy's
  config) and ``set_verbose``.

Anything else raises ``AttributeError`` (``ImportError`` for ``from litellm import X``)
naming this package, rather than pretending.
"""

from . import _logging
from . import exceptions as _exceptions
from .types import utils as _types
from ._logging import verbose_logger, verbose_proxy_logger, verbose_router_logger
from .exceptions import *  # noqa: F401,F403 - LiteLLM's exceptions, at the top level as in LiteLLM
from .types.utils import *  # noqa: F401,F403 - and its response objects

__all__ = [
    "callbacks",
    "success_callback",
    "failure_callback",
    "input_callback",
    "set_verbose",
    "print_verbose",
    "verbose_logger",
    "verbose_proxy_logger",
    "verbose_router_logger",
    *_types.__all__,
    *_exceptions.__all__,
]

callbacks = []
success_callback = []
failure_callback = []
input_callback = []
set_verbose = False


def print_verbose(print_statement):
    """Prints when ``litellm.set_verbose`` is true (a plugin's stdout goes to the proxy's log)."""
    if set_verbose:
        print(print_statement)  # noqa: T201 - what LiteLLM's helper does


_SUBMODULES = ("caching", "exceptions", "integrations", "proxy", "types", "utils")


def __getattr__(name):
    if name in _SUBMODULES:  # `import litellm` then `litellm.utils.x`, as LiteLLM imports them eagerly
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(
        f"module 'litellm' has no attribute {name!r} in a hookgate plugin: hookgate's LiteLLM compatibility layer "
        "(guest-sdk/python/compat) provides what callback files use; see docs/litellm-migration.md"
    )
