"""``GuardrailEventHooks``: when a ``CustomGuardrail`` runs. hookgate maps them onto its
hooks: ``pre_call`` (pre-call), ``during_call`` (moderation), ``post_call``
(post-call-success and the stream hooks). ``logging_only`` and the MCP events have no
hookgate hook: a guardrail set to them never runs a call hook."""

import enum

__all__ = ["GuardrailEventHooks"]


class GuardrailEventHooks(str, enum.Enum):
    pre_call = "pre_call"
    post_call = "post_call"
    during_call = "during_call"
    logging_only = "logging_only"
    pre_mcp_call = "pre_mcp_call"
    during_mcp_call = "during_mcp_call"
