"""LiteLLM's older import path for ``DualCache`` (``litellm.caching.caching``)."""

from .dual_cache import DualCache

__all__ = ["DualCache"]
