# Handlers that run the same in LiteLLM (the bench's pinned version) and in hookgate, for
# tests/suite/litellm_compat.rs, which runs this file in both and compares what clients
# get and what the handlers log. Each reacts only to its own trigger words.
import json

from fastapi import HTTPException
from litellm.exceptions import RejectedRequestError
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth


class Moderation(CustomLogger):
    """LiteLLM's moderation hook with today's signature: a refusal with a 403."""

    async def async_moderation_hook(self, data: dict, user_api_key_dict: UserAPIKeyAuth, call_type):
        for message in data.get("messages", []):
            if "hate" in str(message.get("content", "")).lower():
                raise HTTPException(status_code=403, detail={"error": "flagged by moderation"})


class Answering(CustomLogger):
    """Answers in the model's place with RejectedRequestError, returned or raised."""

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        text = data["messages"][-1]["content"]
        if text == "answer-return":
            return RejectedRequestError(message="answered by the callback", model=data["model"], llm_provider="", request_data=data)
        if text == "answer-raise":
            raise RejectedRequestError(message="raised answer", model=data["model"], llm_provider="", request_data=data)
        if text == "a tuple":
            return ("not", "a", "dict")  # neither dict, str nor exception: LiteLLM goes on with data
        if text == "crash":
            raise ValueError("the callback crashed")
        return data


class Tagger(CustomLogger):
    """Edits the request in place and the answer after the call; logs each success."""

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        for message in data.get("messages", []):
            if isinstance(message.get("content"), str) and "shout" in message["content"]:
                message["content"] = message["content"].upper()

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        for choice in response.choices:
            if choice.message.content and "tag me" in choice.message.content.lower():
                choice.message.content += " [tagged]"
        return response

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        slo = kwargs["standard_logging_object"]
        print("SIDE-BY-SIDE " + json.dumps({
            "event": "success",
            "call_type": kwargs.get("call_type"),
            "model_group": slo["model_group"],
            "stream": bool(kwargs.get("stream")),
            "status": slo["status"],
            "prompt_tokens": slo["prompt_tokens"],
            "completion_tokens": slo["completion_tokens"],
            "response_cost": round(slo["response_cost"], 9),
            "answer": response_obj.choices[0].message.content,
            "elapsed_is_a_timedelta": (end_time - start_time).total_seconds() >= 0,
        }, sort_keys=True), flush=True)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        slo = kwargs["standard_logging_object"]
        print("SIDE-BY-SIDE " + json.dumps({
            "event": "failure",
            "status": slo["status"],
            "exception": type(kwargs.get("exception")).__name__,
            "status_code": getattr(kwargs.get("exception"), "status_code", None),
        }, sort_keys=True), flush=True)


moderation = Moderation()
answering = Answering()
tagger = Tagger()
