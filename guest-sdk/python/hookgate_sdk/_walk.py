"""Where the texts of a body are, for the local stand-ins of :mod:`hookgate_sdk.testing`.

In a component the host finds the texts (``content.texts``); this is a port of the host's
walk (``content/src/texts.rs``) so that plugin unit tests run in plain CPython see the
same texts, paths, items and roles, and the same edits. Both are tested against the
shared vectors in ``guest-sdk/conformance/text.json``.

Request texts: per ``messages[]`` entry its ``name``, ``content`` (a string, or the
``text`` of its parts and the ``refusal`` of ``refusal`` parts), ``refusal``, per
``tool_calls[]`` entry ``function.name``, ``function.arguments`` and ``custom.input``,
and the deprecated ``function_call``; per ``tools[]`` entry a function's ``name``,
``description`` and ``parameters`` schema (or every string of a ``custom`` tool); the
deprecated ``functions[]``; ``response_format.json_schema``'s ``name``, ``description``,
``schema``; ``prediction.content``; ``prompt`` and ``suffix``; ``input``. A schema gives
every string in it and the keys of its ``properties`` objects (``is_key``). Response:
per ``choices[]`` entry ``message.content``, ``message.refusal``,
``message.tool_calls[].function.name``/``.arguments`` (or ``.custom.input``), the
deprecated ``message.function_call.name``/``.arguments``, ``message.audio.transcript``
and ``text``; a chunk the same of each choice's ``delta``, and ``text``.
"""

REQUEST, RESPONSE, CHUNK = "request", "response", "chunk"

# The fields of a message read as what they are (or holding no text a model reads);
# every string of any other field is read as text.
MESSAGE_FIELDS = ("role", "name", "content", "refusal", "tool_calls", "function_call", "tool_call_id", "audio")
# A response message's or chunk delta's fields read as what they are; every string of any
# other field (``reasoning_content``, annotations) is a text, as the model wrote it.
REPLY_FIELDS = ("role", "content", "refusal", "tool_calls", "function_call", "audio")


class Part:
    """One text and where it is (the shape of the contract's ``text-part``)."""

    __slots__ = ("path", "is_key", "item", "role", "text")

    def __init__(self, path, is_key, item, role, text):
        self.path, self.is_key, self.item, self.role, self.text = path, is_key, item, role, text

    def __repr__(self):
        return f"Part({self.path!r}, {self.text!r})"


def _escape(token):
    return token.replace("~", "~0").replace("/", "~1")


class _Walk:
    def __init__(self):
        self.path = []
        self.item = None
        self.role = None
        self.found = []

    def push(self, text, is_key=False):
        pointer = "".join("/" + _escape(token) for token in self.path)
        self.found.append(Part(pointer, is_key, self.item, self.role, text))

    def field(self, value, key, visit):
        if isinstance(value, dict) and key in value:
            self.path.append(key)
            visit(value[key])
            self.path.pop()

    def items(self, value, visit):
        if isinstance(value, list):
            for index, item in enumerate(value):
                self.path.append(str(index))
                visit(item)
                self.path.pop()

    def text(self, value):
        if isinstance(value, str):
            self.push(value)

    def strings(self, value):
        if isinstance(value, list):
            self.items(value, self.text)
        else:
            self.text(value)

    def part(self, value):
        self.field(value, "text", self.text)
        if isinstance(value, dict) and value.get("type") == "refusal":
            self.field(value, "refusal", self.text)

    def content(self, value):
        if isinstance(value, list):
            self.items(value, self.part)
        else:
            self.text(value)

    def schema(self, value, names=False):
        if isinstance(value, str):
            self.push(value)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.path.append(str(index))
                self.schema(item)
                self.path.pop()
        elif isinstance(value, dict):
            for key, inner in value.items():
                self.path.append(key)
                if names:
                    self.push(key, is_key=True)
                self.schema(inner, names=not names and key == "properties")
                self.path.pop()

    def function(self, value):
        self.field(value, "name", self.text)
        self.field(value, "description", self.text)
        self.field(value, "parameters", self.schema)
        self.rest(value, ("name", "description", "parameters", "strict"))

    def rest(self, value, known):
        """Every string of each field of ``value`` not in ``known``, as a schema's."""
        if isinstance(value, dict):
            for key, inner in value.items():
                if key not in known:
                    self.path.append(key)
                    self.schema(inner)
                    self.path.pop()

    def call(self, value):
        self.field(value, "name", self.text)
        self.field(value, "arguments", self.text)

    def tool_call(self, value):
        self.field(value, "function", self.call)
        self.field(value, "custom", lambda custom: self.field(custom, "input", self.text))

    def message(self, value):
        role = value.get("role") if isinstance(value, dict) else None
        self.role = role if isinstance(role, str) else None
        self.field(value, "name", self.text)
        self.field(value, "content", self.content)
        self.field(value, "refusal", self.text)
        self.field(value, "tool_calls", lambda calls: self.items(calls, self.tool_call))
        self.field(value, "function_call", self.call)
        self.rest(value, MESSAGE_FIELDS)

    def tool(self, value):
        if not isinstance(value, dict):
            return
        kind = value.get("type", "function")
        if kind == "function":
            self.field(value, "function", self.function)
        elif kind == "custom":
            self.field(value, "custom", self.schema)
        else:
            return
        self.rest(value, ("type", "function", "custom"))

    def json_schema(self, value):
        self.field(value, "name", self.text)
        self.field(value, "description", self.text)
        self.field(value, "schema", self.schema)

    def messages(self, messages):
        if isinstance(messages, list):
            for index, message in enumerate(messages):
                self.item = index
                self.path.append(str(index))
                self.message(message)
                self.path.pop()
            self.item, self.role = None, None

    def request(self, body):
        self.field(body, "messages", self.messages)
        self.field(body, "tools", lambda tools: self.items(tools, self.tool))
        self.field(body, "functions", lambda functions: self.items(functions, self.function))
        self.field(body, "response_format", lambda rf: self.field(rf, "json_schema", self.json_schema))
        self.field(body, "prediction", lambda prediction: self.field(prediction, "content", self.content))
        self.field(body, "prompt", self.strings)
        self.field(body, "suffix", self.text)
        self.field(body, "input", self.strings)

    def reply(self, value):
        self.field(value, "content", self.content)
        self.field(value, "refusal", self.text)
        self.field(value, "tool_calls", lambda calls: self.items(calls, self.tool_call))
        self.field(value, "function_call", self.call)
        self.field(value, "audio", lambda audio: self.field(audio, "transcript", self.text))
        self.rest(value, REPLY_FIELDS)

    def response_choice(self, value):
        self.field(value, "message", self.reply)
        self.field(value, "text", self.text)

    def chunk_choice(self, value):
        self.field(value, "delta", self.reply)
        self.field(value, "text", self.text)

    def choices(self, body, visit):
        choices = body.get("choices")
        if not isinstance(choices, list):
            return
        self.path.append("choices")
        self.role = "assistant"
        for index, choice in enumerate(choices):
            self.item = index
            self.path.append(str(index))
            visit(choice)
            self.path.pop()
        self.path.pop()


def texts(kind, body):
    """Every text of ``body`` (a parsed JSON object) of ``kind``, in document order."""
    if not isinstance(body, dict):
        return []
    walk = _Walk()
    if kind == REQUEST:
        walk.request(body)
    elif kind == RESPONSE:
        walk.choices(body, walk.response_choice)
    else:
        walk.choices(body, walk.chunk_choice)
    return walk.found


def _tokens(path):
    return [token.replace("~1", "/").replace("~0", "~") for token in path.split("/")[1:]]


def _resolve(body, tokens):
    for token in tokens:
        if isinstance(body, dict):
            body = body.get(token)
        elif isinstance(body, list) and token.isdigit() and int(token) < len(body):
            body = body[int(token)]
        else:
            return None
    return body


def _rename(obj, old, new):
    """Renames key ``old`` to ``new`` in place, keeping its position; on a collision the
    first position wins, with the later value (as JSON parsers merge repeated keys)."""
    entries = [(new if key == old else key, value) for key, value in obj.items()]
    obj.clear()
    for key, value in entries:
        obj[key] = value  # a repeated key keeps its first position, takes the later value


def forget_logprobs(choice):
    """An edited choice loses its ``logprobs``: they list the old text's tokens (as the
    host does)."""
    if isinstance(choice, dict) and choice.get("logprobs") is not None:
        choice["logprobs"] = None


def set_texts(kind, body, edits):
    """Replaces texts of ``body`` in place by their position in :func:`texts`; ``edits``
    are (position, text) pairs. Returns the first position out of range (nothing
    changed), or ``None``."""
    parts = texts(kind, body)
    for index, _ in edits:
        if not 0 <= index < len(parts):
            return index
    values, keys = [], []
    for index, text in edits:
        part = parts[index]
        if part.text == text:
            continue
        (keys if part.is_key else values).append((index, part.path, text))
        if kind != REQUEST and part.item is not None:
            forget_logprobs(body["choices"][part.item])
    for _, path, text in values:
        tokens = _tokens(path)
        parent = _resolve(body, tokens[:-1])
        last = tokens[-1]
        if isinstance(parent, dict) and isinstance(parent.get(last), str):
            parent[last] = text
        elif isinstance(parent, list) and last.isdigit() and isinstance(parent[int(last)], str):
            parent[int(last)] = text
    # A property's name comes before everything inside it: renaming from the last one
    # back keeps the paths of those still to rename valid.
    for _, path, text in sorted(keys, key=lambda edit: -edit[0]):
        tokens = _tokens(path)
        parent = _resolve(body, tokens[:-1])
        if isinstance(parent, dict):
            _rename(parent, tokens[-1], text)
    return None
