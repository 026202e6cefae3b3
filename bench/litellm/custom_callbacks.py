"""The five callbacks of scenario (e) of `make bench`: LiteLLM `CustomLogger`s doing what
hookgate's five bench plugins do, so both proxies run the same policy per request.

- ``RateLimiter``    mirrors plugins/rate-limiter (in memory, per key, clock-aligned minute)
- ``PiiRedactor``    mirrors plugins/pii-redactor (same regexes; requests, responses, streams)
- ``BannedKeywords`` mirrors plugins/banned-keywords
- ``HeaderInjector`` mirrors plugins/header-injector
- ``CostLogger``     mirrors plugins/cost-logger (one JSON line per request)

Each is its own callback, as in hookgate each is its own plugin. The rate limit comes
from ``BENCH_RATE_LIMIT_RPM`` (default: far above anything the bench sends).
"""

import json
import logging
import os
import re
import sys
import time

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger


def message_texts(data):
    """The text of every message: (message, key or index, text) for string contents and
    text parts, so a callback can read or replace each."""
    for message in data.get("messages") or []:
        if not isinstance(message, dict):
            continue
        content = message.get("content")
        if isinstance(content, str):
            yield message, "content", content
        elif isinstance(content, list):
            for part in text_parts(content):
                yield part, "text", part["text"]


def text_parts(content):
    """The parts of a message's content list that carry text, in order."""
    return [part for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)]


class RateLimiter(CustomLogger):
    def __init__(self):
        super().__init__()
        self.limit = int(os.environ.get("BENCH_RATE_LIMIT_RPM", "100000000"))
        self.counts = {}  # (key, minute) -> requests

    def _counter(self, user_api_key_dict):
        key = getattr(user_api_key_dict, "api_key", None) or getattr(user_api_key_dict, "token", None) or "anonymous"
        return key, int(time.time() // 60)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        counter = self._counter(user_api_key_dict)
        # Drop the windows that have passed, so memory stays bounded.
        for old in [c for c in self.counts if c[1] < counter[1]]:
            del self.counts[old]
        count = self.counts.get(counter, 0) + 1
        self.counts[counter] = count
        if count > self.limit:
            seconds = 60 - int(time.time()) % 60
            raise HTTPException(
                status_code=429,
                detail=f"Rate limit exceeded: {self.limit} requests per 60 s per key; retry in {seconds} s.",
            )
        return data

    async def async_post_call_response_headers_hook(self, data, user_api_key_dict, response, request_headers=None, litellm_call_info=None):
        count = self.counts.get(self._counter(user_api_key_dict), 0)
        return {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(max(self.limit - count, 0)),
            "x-ratelimit-reset-requests": f"{60 - int(time.time()) % 60}s",
        }


EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
OPEN_TAIL = re.compile(r"[\d().+\- ]*\S*$")
MAX_HELD = 256
PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}(?!\w)")


def mask(text):
    return PHONE.sub("[PHONE]", EMAIL.sub("[EMAIL]", text))


class PiiRedactor(CustomLogger):
    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        for holder, key, text in list(message_texts(data)):
            masked = mask(text)
            if masked != text:
                holder[key] = masked
        return data

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        for choice in getattr(response, "choices", None) or []:
            message = getattr(choice, "message", None)
            content = getattr(message, "content", None)
            if isinstance(content, str):
                message.content = mask(content)
        return response

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        # Like the hookgate plugin: hold back a tail that could still grow into a match,
        # send it with the next chunk; the chunk with finish_reason sends everything.
        held = ""
        async for chunk in response:
            choices = getattr(chunk, "choices", None) or []
            if choices:
                delta = choices[0].delta
                text = held + (getattr(delta, "content", None) or "")
                if choices[0].finish_reason is not None:
                    out, held = mask(text), ""
                else:
                    tail = OPEN_TAIL.search(text)
                    cut = tail.start() if tail and len(text) - tail.start() <= MAX_HELD else len(text)
                    out, held = mask(text[:cut]), text[cut:]
                delta.content = out
            yield chunk


class BannedKeywords(CustomLogger):
    """Checks requests, responses and streams, as the hookgate plugin does."""

    KEYWORDS = ["forbidden", "secret plan"]
    MESSAGE = "This request mentions a topic we do not serve."
    LONGEST = max(len(keyword) for keyword in KEYWORDS)

    def check(self, text):
        lowered = text.lower()
        if any(keyword in lowered for keyword in self.KEYWORDS):
            raise HTTPException(status_code=400, detail=self.MESSAGE)

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        for _, _, text in message_texts(data):
            self.check(text)
        # A message's text parts are one text to the model: checked joined both ways.
        for message in data.get("messages") or []:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list):
                parts = [part["text"] for part in text_parts(content)]
                if len(parts) > 1:
                    for separator in ("", " "):
                        self.check(separator.join(parts))
        return data

    async def async_post_call_success_hook(self, data, user_api_key_dict, response):
        for choice in getattr(response, "choices", None) or []:
            content = getattr(getattr(choice, "message", None), "content", None)
            if isinstance(content, str):
                self.check(content)
        return response

    async def async_post_call_streaming_iterator_hook(self, user_api_key_dict, response, request_data):
        tail = ""  # the stream's last characters, so a keyword split across chunks is found
        async for chunk in response:
            choices = getattr(chunk, "choices", None) or []
            text = getattr(choices[0].delta, "content", None) if choices else None
            if text:
                window = tail + text
                self.check(window)
                tail = window[-(self.LONGEST - 1):]
            yield chunk


class HeaderInjector(CustomLogger):
    HEADERS = {"x-served-by": "litellm", "x-policy": "banned-keywords-v1"}

    async def async_post_call_response_headers_hook(self, data, user_api_key_dict, response, request_headers=None, litellm_call_info=None):
        return dict(self.HEADERS)


cost_log = logging.getLogger("bench.cost")
cost_log.setLevel(logging.INFO)
cost_log.propagate = False
if not cost_log.handlers:
    cost_log.addHandler(logging.StreamHandler(sys.stdout))


class CostLogger(CustomLogger):
    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        usage = getattr(response_obj, "usage", None)
        metadata = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        cost = kwargs.get("response_cost")
        line = {
            "event": "cost",
            "request_id": getattr(response_obj, "id", None) or kwargs.get("litellm_call_id"),
            "model": kwargs.get("model"),
            "model_used": getattr(response_obj, "model", None),
            "key_alias": metadata.get("user_api_key_alias"),
            "prompt_tokens": getattr(usage, "prompt_tokens", None),
            "completion_tokens": getattr(usage, "completion_tokens", None),
            "total_tokens": getattr(usage, "total_tokens", None),
            "cost_usd": cost if isinstance(cost, (int, float)) else None,
            "latency_ms": round((end_time - start_time).total_seconds() * 1000, 3),
        }
        cost_log.info(json.dumps(line))


rate_limiter = RateLimiter()
pii_redactor = PiiRedactor()
banned_keywords = BannedKeywords()
header_injector = HeaderInjector()
cost_logger = CostLogger()
