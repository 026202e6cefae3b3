"""LiteLLM's response objects as callbacks read them: ``ModelResponse`` (its ``Choices``,
``Message``, ``Usage``), ``ModelResponseStream`` (``StreamingChoices``, ``Delta``),
``TextCompletionResponse`` and ``EmbeddingResponse``.

Each is a view of one JSON object: fields read as attributes (``response.choices[0].message.content``)
and as items (``response["choices"][0]["message"]["content"]``), assignments in either
form change it, and :meth:`_Record.to_dict` gives the JSON back. The hookgate adapter
makes them from the bodies the host hands a hook and writes back what a callback changed.
A field LiteLLM's class always has reads ``None`` when the body lacks it (it is not
added); any other missing field raises ``AttributeError`` (``KeyError`` as an item), as
LiteLLM's pydantic models do. Nested objects that have no class here (``logprobs``,
``prompt_tokens_details``, ...) get the same attribute and item access.
"""

import enum
import json
import time
import uuid
from typing import Any, Dict, Literal

__all__ = [
    "ModelResponse",
    "ModelResponseStream",
    "TextCompletionResponse",
    "EmbeddingResponse",
    "Choices",
    "StreamingChoices",
    "TextChoices",
    "Message",
    "Delta",
    "Usage",
    "Function",
    "ChatCompletionMessageToolCall",
    "ChatCompletionDeltaToolCall",
    "CallTypes",
    "CallTypesLiteral",
    "StandardLoggingPayload",
]


def to_json(value):
    """``value`` with every record in it turned into plain JSON values."""
    if isinstance(value, _Record):
        return {key: to_json(item) for key, item in value._values.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, enum.Enum):
        return to_json(value.value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"{type(value).__name__} is not JSON: a response holds JSON values (str, numbers, lists, dicts, records)")


class _Record:
    """A JSON object with attribute and item access. ``FIELDS``: the fields LiteLLM's
    class has, with the defaults a newly constructed one gets; ``NESTED``: the class of a
    field's object (or of each object in its list)."""

    FIELDS: Dict[str, Any] = {}
    NESTED: Dict[str, type] = {}
    # Fields a newly constructed object writes as null rather than leaving out (OpenAI's
    # schema requires them).
    NULLABLE = ()

    def __init__(self, *args, **kwargs):
        names = list(self.FIELDS)
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} positional arguments")
        given = dict(zip(names, args))
        given.update(kwargs)
        values = {}
        for name, default in self.FIELDS.items():
            value = given.pop(name, None)
            if value is None:
                value = default() if callable(default) else default
            if value is not None or name in self.NULLABLE:
                values[name] = value
        values.update(given)
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_hidden_params", {})
        for name, value in values.items():
            self._values[name] = self._wrap(name, value)
        self._complete()

    def _complete(self):
        """Fills fields computed from others, for objects constructed in code."""

    @classmethod
    def _from_json(cls, data):
        """The record of JSON object ``data`` as it is: no defaults added."""
        self = cls.__new__(cls)
        object.__setattr__(self, "_values", {})
        object.__setattr__(self, "_hidden_params", {})
        for name, value in data.items():
            self._values[name] = self._wrap(name, value)
        return self

    def _wrap(self, name, value):
        kind = self.NESTED.get(name, _Object)
        if isinstance(value, dict):
            return kind._from_json(value)
        if isinstance(value, list):
            return [kind._from_json(item) if isinstance(item, dict) else item for item in value]
        return value

    def __getattr__(self, name):  # only for names that are not methods or instance attributes
        values = object.__getattribute__(self, "_values")
        if name in values:
            return values[name]
        if name in type(self).FIELDS:
            return None
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)  # private state, not part of the JSON
        else:
            self._values[name] = self._wrap(name, value)

    def __delattr__(self, name):
        if name.startswith("_"):
            object.__delattr__(self, name)
        elif name in self._values:
            del self._values[name]
        else:
            raise AttributeError(name)

    def __getitem__(self, key):
        if key in self._values:
            return self._values[key]
        if key in type(self).FIELDS:
            return None
        raise KeyError(key)

    def __setitem__(self, key, value):
        self._values[key] = self._wrap(key, value)

    def __delitem__(self, key):
        del self._values[key]

    def __contains__(self, key):
        return key in self._values

    def __iter__(self):  # as pydantic's models: (field, value) pairs, so dict(obj) works
        return iter(list(self._values.items()))

    def __eq__(self, other):
        if isinstance(other, (_Record, dict)):
            return to_json(self) == to_json(other)
        return NotImplemented

    __hash__ = None

    def get(self, key, default=None):
        return self._values[key] if key in self._values else default

    def keys(self):
        return self._values.keys()

    def items(self):
        return self._values.items()

    def to_dict(self):
        """The JSON object, as plain dicts and lists."""
        return to_json(self)

    def model_dump(self, **_options):
        return to_json(self)

    def dict(self, **_options):  # noqa: A003 - pydantic v1's name, which callbacks still use
        return to_json(self)

    def json(self, **_options):
        # LiteLLM's response objects return the dict here (not JSON text); kept for callbacks
        # that rely on it.
        return to_json(self)

    def model_dump_json(self, **_options):
        return json.dumps(to_json(self), ensure_ascii=False)

    def __repr__(self):
        return f"{type(self).__name__}({json.dumps(to_json(self), ensure_ascii=False)})"


class _Object(_Record):
    """A nested JSON object with no LiteLLM class of its own here."""


class Function(_Record):
    FIELDS = {"arguments": None, "name": None}


class ChatCompletionMessageToolCall(_Record):
    FIELDS = {"function": None, "id": None, "type": "function"}
    NESTED = {"function": Function}


class ChatCompletionDeltaToolCall(_Record):
    FIELDS = {"id": None, "function": None, "type": None, "index": 0}
    NESTED = {"function": Function}


class Message(_Record):
    FIELDS = {"content": None, "role": "assistant", "tool_calls": None, "function_call": None}
    NULLABLE = ("content",)
    NESTED = {"tool_calls": ChatCompletionMessageToolCall, "function_call": Function}


class Delta(_Record):
    FIELDS = {"content": None, "role": None, "function_call": None, "tool_calls": None}
    NESTED = {"tool_calls": ChatCompletionDeltaToolCall, "function_call": Function}


class Choices(_Record):
    FIELDS = {"finish_reason": "stop", "index": 0, "message": Message, "logprobs": None}
    NESTED = {"message": Message}


class StreamingChoices(_Record):
    FIELDS = {"finish_reason": None, "index": 0, "delta": Delta, "logprobs": None}
    NESTED = {"delta": Delta}


class TextChoices(_Record):
    FIELDS = {"finish_reason": "stop", "index": 0, "text": None, "logprobs": None}


class Usage(_Record):
    FIELDS = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": None}

    def _complete(self):
        if self._values.get("total_tokens") is None:
            self._values["total_tokens"] = (self.prompt_tokens or 0) + (self.completion_tokens or 0)


def _id(prefix):
    return lambda: f"{prefix}-{uuid.uuid4()}"


def _now():
    return int(time.time())


def _one(kind):
    return lambda: [kind()]


class ModelResponse(_Record):
    """A chat completion (``object: chat.completion``)."""

    FIELDS = {
        "id": _id("chatcmpl"),
        "created": _now,
        "model": None,
        "object": "chat.completion",
        "system_fingerprint": None,
        "choices": _one(Choices),
        "usage": Usage,
    }
    NESTED = {"choices": Choices, "usage": Usage}


class ModelResponseStream(_Record):
    """One streamed chunk (``object: chat.completion.chunk``)."""

    FIELDS = {
        "id": _id("chatcmpl"),
        "created": _now,
        "model": None,
        "object": "chat.completion.chunk",
        "system_fingerprint": None,
        "choices": _one(StreamingChoices),
        "usage": None,
    }
    NESTED = {"choices": StreamingChoices, "usage": Usage}


class TextCompletionResponse(_Record):
    """A text completion (``object: text_completion``)."""

    FIELDS = {
        "id": _id("cmpl"),
        "created": _now,
        "model": None,
        "object": "text_completion",
        "choices": _one(TextChoices),
        "usage": Usage,
    }
    NESTED = {"choices": TextChoices, "usage": Usage}


class EmbeddingResponse(_Record):
    """An embeddings answer (``object: list``)."""

    FIELDS = {"model": None, "data": list, "object": "list", "usage": Usage}
    NESTED = {"usage": Usage}


class CallTypes(str, enum.Enum):
    """The call types LiteLLM's logging reports (the ones hookgate serves)."""

    completion = "completion"
    acompletion = "acompletion"
    text_completion = "text_completion"
    atext_completion = "atext_completion"
    embedding = "embedding"
    aembedding = "aembedding"


CallTypesLiteral = Literal[
    "completion", "acompletion", "text_completion", "atext_completion", "embedding", "aembedding", "embeddings"
]

# A TypedDict in LiteLLM: a dict at run time.
StandardLoggingPayload = Dict[str, Any]
