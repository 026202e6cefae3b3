"""LiteLLM's ``litellm.proxy``: what callback files import from it (``proxy_server``,
``_types``)."""
