"""LiteLLM's ``litellm.caching``: ``DualCache``, over the plugin's kv store."""

from .dual_cache import DualCache

__all__ = ["DualCache"]
