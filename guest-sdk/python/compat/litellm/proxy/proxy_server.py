"""What LiteLLM callback files import from ``litellm.proxy.proxy_server``:
``UserAPIKeyAuth`` and ``DualCache``. The proxy's globals (``llm_router``,
``proxy_logging_obj``, ``prisma_client``, ...) do not exist in a hookgate plugin."""

from litellm.caching.dual_cache import DualCache
from litellm.proxy._types import UserAPIKeyAuth

__all__ = ["UserAPIKeyAuth", "DualCache"]


def __getattr__(name):
    raise AttributeError(
        f"litellm.proxy.proxy_server has no {name!r} in a hookgate plugin: it provides UserAPIKeyAuth and DualCache; "
        "the LiteLLM proxy's own objects (router, database, logging) are not part of a plugin"
    )
