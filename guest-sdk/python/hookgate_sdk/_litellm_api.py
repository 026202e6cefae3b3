"""LiteLLM's callback API as hookgate runs it: which ``CustomLogger`` methods map onto
which hookgate hooks, the arguments LiteLLM passes them, and the methods hookgate cannot
run. Plain data, shared by build.py (which reads a handler's class from its source) and
:mod:`hookgate_sdk.litellm` (which checks the live class inside the component), so that
both always agree on what a handler exports.
"""

# The plugin hooks in the contract's order (as hookgate_sdk.plugin.HOOKS; repeated here
# so that build.py can import this module without the rest of the SDK).
PLUGIN_HOOKS = (
    "pre_call",
    "moderation",
    "post_call_success",
    "post_call_failure",
    "stream_chunk",
    "stream_end",
    "log_success",
    "log_failure",
)

# LiteLLM method -> (the plugin hooks it runs in, the keyword arguments LiteLLM passes it).
# A handler method receives those of them its signature names (all of them with
# **kwargs): LiteLLM's versions added and dropped parameters (the failure hook's
# `request_data` and `traceback_str`, the headers hook's `litellm_call_info`), and LiteLLM
# itself inspects the headers hook's signature the same way.
SUPPORTED = {
    "async_pre_call_hook": (("pre_call",), ("user_api_key_dict", "cache", "data", "call_type")),
    # LiteLLM logs the call as it starts, after every pre-call hook: hookgate's moderation
    # hook starts with the upstream call. A request refused in pre-call is logged as a
    # call all the same, in log-failure.
    "log_pre_api_call": (("moderation", "log_failure"), ("model", "messages", "kwargs")),
    "async_log_pre_api_call": (("moderation", "log_failure"), ("model", "messages", "kwargs")),
    "async_moderation_hook": (("moderation",), ("data", "user_api_key_dict", "call_type")),
    "async_post_call_success_hook": (("post_call_success",), ("data", "user_api_key_dict", "response")),
    "async_post_call_response_headers_hook": (
        ("post_call_success",),
        ("data", "user_api_key_dict", "response", "request_headers", "litellm_call_info"),
    ),
    "async_post_call_failure_hook": (
        ("post_call_failure",),
        ("request_data", "original_exception", "user_api_key_dict", "traceback_str"),
    ),
    "async_post_call_streaming_hook": (("stream_chunk",), ("user_api_key_dict", "response")),
    # stream_end lets the handler's generator see the end of the stream.
    "async_post_call_streaming_iterator_hook": (
        ("stream_chunk", "stream_end"),
        ("user_api_key_dict", "response", "request_data"),
    ),
    # LiteLLM calls it once the provider has answered, before the success event.
    "log_post_api_call": (("log_success",), ("kwargs", "response_obj", "start_time", "end_time")),
    "async_log_success_event": (("log_success",), ("kwargs", "response_obj", "start_time", "end_time")),
    "log_success_event": (("log_success",), ("kwargs", "response_obj", "start_time", "end_time")),
    "async_log_failure_event": (("log_failure",), ("kwargs", "response_obj", "start_time", "end_time")),
    "log_failure_event": (("log_failure",), ("kwargs", "response_obj", "start_time", "end_time")),
}

# CustomLogger (and CustomGuardrail) hooks hookgate does not run, with why. A handler
# that overrides one of them (with a body that does something) is refused at build time,
# and at init time inside the component, naming the method: never silently not called.
UNSUPPORTED = {
    "log_stream_event": "hookgate has no per-chunk logging hook; use async_post_call_streaming_iterator_hook, or async_log_success_event with the assembled stream",
    "async_log_stream_event": "hookgate has no per-chunk logging hook; use async_post_call_streaming_iterator_hook, or async_log_success_event with the assembled stream",
    "logging_hook": "hookgate builds the logging payload itself; a plugin cannot edit what other loggers get",
    "async_logging_hook": "hookgate builds the logging payload itself; a plugin cannot edit what other loggers get",
    "async_dataset_hook": "it is LiteLLM's Argilla integration",
    "log_input_event": "it adapts LiteLLM's function callbacks, which hookgate does not run",
    "async_log_input_event": "it adapts LiteLLM's function callbacks, which hookgate does not run",
    "log_event": "it adapts LiteLLM's function callbacks, which hookgate does not run",
    "async_log_event": "it adapts LiteLLM's function callbacks, which hookgate does not run",
    "get_chat_completion_prompt": "hookgate has no prompt management",
    "async_get_chat_completion_prompt": "hookgate has no prompt management",
    "async_pre_routing_hook": "hookgate's router has no plugin hook",
    "async_filter_deployments": "hookgate's router has no plugin hook",
    "async_pre_call_deployment_hook": "hookgate's router has no plugin hook; edit the request in async_pre_call_hook",
    "async_pre_call_check": "hookgate's router has no plugin hook",
    "pre_call_check": "hookgate's router has no plugin hook",
    "async_post_call_success_deployment_hook": "hookgate's router has no plugin hook; use async_post_call_success_hook",
    "async_post_call_streaming_deployment_hook": "hookgate's router has no plugin hook; use async_post_call_streaming_iterator_hook",
    "async_post_call_failure_deployment_hook": "hookgate's router has no plugin hook; use async_post_call_failure_hook",
    "log_model_group_rate_limit_error": "hookgate's router has no fallbacks",
    "log_success_fallback_event": "hookgate's router has no fallbacks",
    "log_failure_fallback_event": "hookgate's router has no fallbacks",
    "translate_completion_input_params": "it is LiteLLM's API-format adapter hook",
    "translate_completion_output_params": "it is LiteLLM's API-format adapter hook",
    "translate_completion_output_params_streaming": "it is LiteLLM's API-format adapter hook",
    "async_pre_request_hook": "it runs on LiteLLM's /v1/messages pass-through, which hookgate does not have",
    "async_pre_mcp_tool_call_hook": "hookgate has no MCP gateway",
    "async_during_mcp_tool_call_hook": "hookgate has no MCP gateway",
    "async_post_mcp_tool_call_hook": "hookgate has no MCP gateway",
    "apply_guardrail": "LiteLLM's unified guardrail path is not ported; implement the async_*_hook methods instead",
}

# The classes a handler's class hierarchy ends in: methods defined below them are the
# handler's overrides.
BASE_CLASSES = ("CustomLogger", "CustomGuardrail")

# Async twins. As LiteLLM's proxy: a success or failure is logged with the async twin (the
# sync one only for a class without it), a request refused in pre-call with both;
# log_pre_api_call is the sync one (LiteLLM never calls async_log_pre_api_call; hookgate
# does for a class without the sync one).
TWINS = {
    "log_pre_api_call": "async_log_pre_api_call",
    "log_success_event": "async_log_success_event",
    "log_failure_event": "async_log_failure_event",
}


def plugin_hooks(methods):
    """The plugin hooks that run ``methods`` (supported LiteLLM method names), in the
    contract's order."""
    hooks = {hook for method in methods for hook in SUPPORTED[method][0]}
    return [hook for hook in PLUGIN_HOOKS if hook in hooks]


def unsupported_message(where, methods):
    """The error for a handler overriding ``methods`` (unsupported names)."""
    lines = [f"{where} overrides LiteLLM callback methods hookgate cannot run:"]
    lines += [f"  - {method}: {UNSUPPORTED[method]}" for method in methods]
    lines.append(
        "Remove them (a method whose body only passes is fine), or keep this handler on LiteLLM; "
        "docs/litellm-migration.md lists what runs and where."
    )
    return "\n".join(lines)
