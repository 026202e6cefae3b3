"""``CustomLogger``: the base class of LiteLLM callback handlers, every method a no-op.

A handler subclasses it and overrides the hooks it needs; hookgate runs the overrides
it supports (``hookgate_sdk.litellm``; the table is in docs/litellm-migration.md) and
refuses to build a handler overriding one it does not, naming the method. The
signatures are LiteLLM's.
"""

__all__ = ["CustomLogger"]


class CustomLogger:
    def __init__(self, turn_off_message_logging=False, message_logging=True, **kwargs):
        self.turn_off_message_logging = turn_off_message_logging
        self.message_logging = message_logging  # deprecated in LiteLLM; kept for handlers that read it

    # -- logging (run by hookgate in log-success / log-failure, and pre-call for pre_api_call)

    def log_pre_api_call(self, model, messages, kwargs):
        pass

    async def async_log_pre_api_call(self, model, messages, kwargs):
        pass

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        pass

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        pass

    # -- logging hooks hookgate does not run

    def log_post_api_call(self, kwargs, response_obj, start_time, end_time):
        pass

    def log_stream_event(self, kwargs, response_obj, start_time, end_time):
        pass

    async def async_log_stream_event(self, kwargs, response_obj, start_time, end_time):
        pass

    def logging_hook(self, kwargs, result, call_type):
        return kwargs, result

    async def async_logging_hook(self, kwargs, result, call_type):
        return kwargs, result

    async def async_dataset_hook(self, logged_item, standard_logging_payload):
        pass

    async def async_post_mcp_tool_call_hook(self, kwargs, response_obj, start_time, end_time):
        pass

    def log_input_event(self, model, messages, kwargs, print_verbose, callback_func):
        pass

    async def async_log_input_event(self, model, messages, kwargs, print_verbose, callback_func):
        pass

    def log_event(self, kwargs, response_obj, start_time, end_time, print_verbose, callback_func):
        pass

    async def async_log_event(self, kwargs, response_obj, start_time, end_time, print_verbose, callback_func):
        pass

    # -- prompt management, routing, adapters: hookgate does not run these

    async def async_get_chat_completion_prompt(
        self, model, messages, non_default_params, prompt_id, prompt_variables, dynamic_callback_params,
        litellm_logging_obj, tools=None, prompt_label=None, prompt_version=None,
    ):  # fmt: skip
        return model, messages, non_default_params

    def get_chat_completion_prompt(
        self, model, messages, non_default_params, prompt_id, prompt_variables, dynamic_callback_params,
        prompt_label=None, prompt_version=None,
    ):  # fmt: skip
        return model, messages, non_default_params

    async def async_pre_routing_hook(self, model, request_kwargs, messages=None, input=None, specific_deployment=False):  # noqa: A002
        return None

    async def async_filter_deployments(self, model, healthy_deployments, messages, request_kwargs=None, parent_otel_span=None):
        return healthy_deployments

    async def async_pre_call_deployment_hook(self, kwargs, call_type):
        return None

    async def async_pre_call_check(self, deployment, parent_otel_span=None):
        return None

    def pre_call_check(self, deployment):
        return None

    async def async_post_call_success_deployment_hook(self, request_data, response, call_type):
        return None

    async def async_post_call_streaming_deployment_hook(self, request_data, response_chunk, call_type):
        return None

    async def async_post_call_failure_deployment_hook(self, request_data, original_exception, call_type=None):
        return None

    async def log_model_group_rate_limit_error(self, exception, original_model_group, kwargs):
        pass

    async def log_success_fallback_event(self, original_model_group, kwargs, original_exception):
        pass

    async def log_failure_fallback_event(self, original_model_group, kwargs, original_exception):
        pass

    def translate_completion_input_params(self, kwargs):
        pass

    def translate_completion_output_params(self, response):
        pass

    def translate_completion_output_params_streaming(self, completion_stream):
        pass

    async def async_pre_request_hook(self, model, messages, kwargs):
        return None

    async def async_pre_mcp_tool_call_hook(self, kwargs, request_obj, start_time, end_time):
        return None

    async def async_during_mcp_tool_call_hook(self, kwargs, request_obj, start_time, end_time):
        return None

    # -- proxy call hooks (run by hookgate)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        pass

    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        pass

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        pass

    async def async_post_call_failure_hook(self, request_data, original_exception, user_api_key_dict, traceback_str=None):
        pass

    async def async_post_call_streaming_hook(self, user_api_key_dict, response):
        pass

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        async for item in response:
            yield item

    async def async_post_call_response_headers_hook(
        self, data, user_api_key_dict, response, request_headers=None, litellm_call_info=None
    ):
        return None
