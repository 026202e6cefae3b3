"""LiteLLM's ``litellm.types`` as hookgate's compatibility layer provides it: the
response objects (``utils``) and the guardrail event hooks (``guardrails``)."""
