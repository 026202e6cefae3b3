"""``CustomGuardrail``: a ``CustomLogger`` that LiteLLM runs only for the events it is
set to (``event_hook``), and only when it is on by default (``default_on``) or the
request names it (``"guardrails": ["<guardrail_name>"]`` in the body or its
``metadata``). hookgate asks ``should_run_guardrail`` as LiteLLM does, before each call
hook: ``pre_call`` before ``async_pre_call_hook``, ``during_call`` before
``async_moderation_hook``, ``post_call`` before the post-call and streaming hooks.
"""

from ..types.guardrails import GuardrailEventHooks
from .custom_logger import CustomLogger

__all__ = ["CustomGuardrail"]


def _value(hook):
    return hook.value if isinstance(hook, GuardrailEventHooks) else hook


class CustomGuardrail(CustomLogger):
    def __init__(
        self,
        guardrail_name=None,
        supported_event_hooks=None,
        event_hook=None,
        default_on=False,
        mask_request_content=False,
        mask_response_content=False,
        **kwargs,
    ):
        self.guardrail_name = guardrail_name
        self.supported_event_hooks = supported_event_hooks
        self.event_hook = event_hook
        self.default_on = default_on
        self.mask_request_content = mask_request_content
        self.mask_response_content = mask_response_content
        super().__init__(**kwargs)

    def get_guardrail_from_metadata(self, data):
        """The guardrails the request names: its ``guardrails``, else its metadata's."""
        if not isinstance(data, dict):
            return []
        requested = data.get("guardrails")
        if requested is None:
            for key in ("metadata", "litellm_metadata"):
                metadata = data.get(key)
                if isinstance(metadata, dict) and metadata.get("guardrails") is not None:
                    requested = metadata["guardrails"]
                    break
        return requested or []

    def _guardrail_is_in_requested_guardrails(self, requested):
        for entry in requested:
            if entry == self.guardrail_name or (isinstance(entry, dict) and self.guardrail_name in entry):
                return True
        return False

    def _event_hook_is_event_type(self, event_type):
        hook = getattr(self, "event_hook", None)
        if hook is None:
            return True
        if isinstance(hook, (list, tuple, set)):
            return _value(event_type) in {_value(h) for h in hook}
        return _value(hook) == _value(event_type)

    def should_run_guardrail(self, data, event_type):
        if not self._event_hook_is_event_type(event_type):
            return False
        if getattr(self, "default_on", False):
            return True
        return self._guardrail_is_in_requested_guardrails(self.get_guardrail_from_metadata(data))

    async def apply_guardrail(self, inputs, request_data, input_type, logging_obj=None):
        # LiteLLM's unified guardrail path: hookgate does not run it, and refuses to build a
        # handler that overrides it (hookgate_sdk/_litellm_api.py).
        return inputs
