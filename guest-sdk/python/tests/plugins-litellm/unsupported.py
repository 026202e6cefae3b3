# Handlers hookgate refuses to build, each for a clear reason.
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.integrations.custom_logger import CustomLogger


class Router(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        return data

    async def async_pre_routing_hook(self, model, request_kwargs, messages=None, input=None, specific_deployment=False):
        return None if model else model

    def logging_hook(self, kwargs, result, call_type):
        return kwargs, result


class QuietRouter(CustomLogger):
    async def async_pre_routing_hook(self, model, request_kwargs, messages=None, input=None, specific_deployment=False):
        """A body that does nothing is no override."""

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        return data


class Unified(CustomGuardrail):
    async def apply_guardrail(self, inputs, request_data, input_type, logging_obj=None):
        return inputs


class NeedsMore(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type, region):
        return data


class NotALogger:
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        return data


router = Router()
quiet_router = QuietRouter()
unified = Unified(guardrail_name="u", default_on=True)
needs_more = NeedsMore()
not_a_logger = NotALogger()
handler_class = Router
