# Handlers in the style of LiteLLM's docs, one per hook mapping the SDK's tests check:
# each module-level instance is built into a plugin of its own, as LiteLLM's
# `callbacks: handlers.<name>` would name it.
import asyncio
import json
from typing import Optional

from fastapi import HTTPException
from litellm.caching.dual_cache import DualCache
from litellm.exceptions import RejectedRequestError
from litellm.integrations.custom_guardrail import CustomGuardrail
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import UserAPIKeyAuth
from litellm.types.utils import ModelResponse, ModelResponseStream


class Recorder(CustomLogger):
    """Keeps what it was called with (a LiteLLM handler's attributes persist)."""

    def __init__(self):
        super().__init__()
        self.calls = []


class KeyQuota(Recorder):
    """A per-key daily quota in the cache (hookgate's kv), refusing with a 429."""

    LIMIT = 2

    async def async_pre_call_hook(self, user_api_key_dict: UserAPIKeyAuth, cache: DualCache, data: dict, call_type):
        self.calls.append((user_api_key_dict, call_type))
        used = await cache.async_increment_cache(f"quota:{user_api_key_dict.api_key}", 1, ttl=86400)
        await cache.async_set_cache("last", {"model": data["model"], "alias": user_api_key_dict.key_alias}, ttl=60)
        if used > self.LIMIT:
            raise HTTPException(status_code=429, detail=f"quota of {self.LIMIT} requests used up")
        data.setdefault("metadata", {})["quota_used"] = used  # edited in place, returned None


class Answering(CustomLogger):
    """Answers instead of the model, by returning (or raising) RejectedRequestError."""

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        text = data["messages"][-1]["content"]
        if text == "return":
            return RejectedRequestError(message="returned answer", model=data["model"], llm_provider="", request_data=data)
        if text == "raise":
            raise RejectedRequestError(message="raised answer", model=data["model"], llm_provider="", request_data=data)
        if text == "new":
            return {"model": "other", "messages": [{"role": "user", "content": "replaced"}]}
        if text == "bad":
            return 42
        if text == "boom":
            raise ValueError("boom")
        return None


class Moderator(CustomLogger):
    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        if "hate" in json.dumps(data):
            raise HTTPException(status_code=403, detail={"error": {"message": "flagged"}})
        data["messages"] = []  # a moderation hook's edits go nowhere
        return "ignored"


class Rewriter(Recorder):
    """Edits the answer in place, then returns a replacement for one model."""

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        self.calls.append(response)
        if data["model"] == "replace":
            return ModelResponse(id="new", model="replaced", choices=[{"message": {"content": "brand new"}}])
        if data["model"] == "refuse":
            raise HTTPException(status_code=400, detail="answer refused")
        for choice in response.choices:
            choice.message.content = choice.message.content.upper()
        response["system_fingerprint"] = "rewritten"
        return response


class OldHeaders(CustomLogger):
    """The headers hook with the signature LiteLLM had before litellm_call_info."""

    async def async_post_call_response_headers_hook(self, data, user_api_key_dict, response, request_headers=None):
        return {"x-model": response.model, "x-user-agent": (request_headers or {}).get("user-agent", "-"), "x-count": 3}


class NewHeaders(CustomLogger):
    async def async_post_call_response_headers_hook(self, data, user_api_key_dict, response, request_headers=None, litellm_call_info=None):
        return {"x-call-info": ",".join(sorted(litellm_call_info))}


class FailureRewriter(Recorder):
    async def async_post_call_failure_hook(self, request_data, original_exception, user_api_key_dict, traceback_str=None):
        self.calls.append(original_exception)
        if getattr(original_exception, "status_code", None) == 429:
            return HTTPException(status_code=429, detail="slow down, " + (user_api_key_dict.key_alias or "?"))
        if getattr(original_exception, "status_code", None) == 401:
            raise HTTPException(status_code=401, detail={"error": "who are you?"})
        if getattr(original_exception, "status_code", None) == 500:
            raise ValueError("a bug in the failure hook")
        return "ignored"


class Censor(Recorder):
    """LiteLLM's per-chunk hook: `response` is the text so far plus this chunk's."""

    async def async_post_call_streaming_hook(self, user_api_key_dict, response: str):
        self.calls.append(response)
        if "darn" in response:
            return "[censored]"
        if "stop now" in response:
            return 'data: {"error": {"message": "stream stopped", "code": 400}}\n\n'
        if "shout" in response:
            return {"choices": [{"index": 0, "delta": {"content": "SHOUT"}}]}
        return response  # handing back what it got changes nothing


class Regrouper(CustomLogger):
    """An iterator hook that drops, splits and holds chunks back."""

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        held = None
        async for chunk in response:
            text = chunk.choices[0].delta.content if chunk.choices else None
            if text == "drop":
                continue
            if text == "split":
                first = ModelResponseStream(**chunk.to_dict())
                first.choices[0].delta.content = "sp"
                yield first
                chunk.choices[0].delta.content = "lit"
                yield chunk
                continue
            if text == "hold":
                held = chunk
                continue
            if held is not None:
                yield held
                held = None
            await asyncio.sleep(0)
            yield chunk
        if held is not None:
            yield held  # after the last chunk: too late for hookgate


class Sleeper(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        await asyncio.sleep(0)
        if data["messages"][0]["content"] == "nap":
            await asyncio.sleep(0.01)
        return data


class Logger(Recorder):
    """Both twins of each logging hook: hookgate calls the async one, once."""

    def log_pre_api_call(self, model, messages, kwargs):
        self.calls.append(("sync pre", model))

    async def async_log_pre_api_call(self, model, messages, kwargs):
        self.calls.append(("pre", model, messages, kwargs))

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.calls.append(("sync success",))

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.calls.append(("success", kwargs, response_obj, start_time, end_time))

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.calls.append(("sync failure",))

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self.calls.append(("failure", kwargs, response_obj, start_time, end_time))


class SyncLogger(Recorder):
    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.calls.append(("success", kwargs["model"], response_obj.choices[0].message.content))

    def log_pre_api_call(self, model, messages, kwargs):
        raise RuntimeError("a broken logger never fails the request")


class Quiet(Recorder):
    """Redacts messages and responses from what its logging gets."""

    def __init__(self):
        super().__init__()
        self.turn_off_message_logging = True

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self.calls.append((kwargs, response_obj))


class Guard(CustomGuardrail):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        raise HTTPException(status_code=400, detail=f"{self.guardrail_name} blocked it")


class Base(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        data["seen_by"] = "base"

    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        raise HTTPException(status_code=400, detail="base moderation")


class Derived(Base):
    async def async_moderation_hook(self, data, user_api_key_dict, call_type):
        """Turns the base's moderation off: this override does nothing."""


key_quota = KeyQuota()
answering = Answering()
moderator = Moderator()
rewriter = Rewriter()
old_headers = OldHeaders()
new_headers = NewHeaders()
failure_rewriter = FailureRewriter()
censor = Censor()
regrouper = Regrouper()
sleeper = Sleeper()
logger = Logger()
sync_logger = SyncLogger()
quiet = Quiet()
guard = Guard(guardrail_name="no-go", event_hook="pre_call", default_on=False)
always_guard = Guard(guardrail_name="always", event_hook="pre_call", default_on=True)
post_guard = Guard(guardrail_name="after", event_hook="post_call")
derived = Derived()
