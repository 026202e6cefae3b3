"""LiteLLM's ``litellm.integrations``: the callback base classes (``custom_logger``,
``custom_guardrail``)."""
