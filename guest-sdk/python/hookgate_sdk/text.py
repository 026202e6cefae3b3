"""The texts of requests, responses and stream chunks, and the normalization guardrails
match them in.

Pure functions over parsed JSON: nothing here calls the host, so it runs (and is tested)
in plain CPython. The Rust SDK (``hookgate_sdk::text``) and the JavaScript SDK
(``src/text.js``) implement the same locations, order and normalization; all three are
tested against ``guest-sdk/conformance/text.json``.

**Request texts**, in this order (document order of the fields below; values of another
type are skipped):

- ``messages[]``, per message: ``name``; ``content`` (a string, or of a list of parts: the
  ``text`` of every part that has a string ``text``, the ``refusal`` of ``refusal``
  parts); ``refusal``; per ``tool_calls[]`` entry: ``function.name``,
  ``function.arguments`` (JSON text, taken as text), ``custom.input``; the deprecated
  ``function_call.name`` and ``function_call.arguments``.
- ``tools[]``: a ``function`` tool (``type`` ``"function"`` or absent): ``function.name``,
  ``function.description``, then the schema ``function.parameters``; a ``custom`` tool:
  every string leaf of ``custom``.
- the deprecated ``functions[]``: ``name``, ``description``, the schema ``parameters``.
- ``response_format.json_schema``: ``name``, ``description``, the schema ``schema``.
- ``prediction.content`` (a string or text parts).
- ``prompt`` (a string or a list of strings; token-id prompts carry no text), ``suffix``.
- ``input`` (a string or a list of strings).

A *schema* contributes every string leaf, in document order, plus the keys of every
``properties`` object in it (the property names, each before its schema). Image, audio
and file parts carry no text.

**Response texts**: per choice, ``message.content`` (string or parts),
``message.refusal``, ``message.tool_calls[].function.name`` and ``.arguments``, and
``text`` (completions). **Chunk texts**: per choice, ``delta.content``,
``delta.refusal``, ``delta.tool_calls[].function.name`` and ``.arguments``.
"""

import re
import unicodedata

__all__ = [
    "request_texts",
    "map_request_texts",
    "response_texts",
    "chunk_texts",
    "normalize",
    "is_white_space",
    "is_default_ignorable",
]


class _Walk:
    """Visits the texts of a body in order, calling ``f`` on each. A text ``f`` changes is
    replaced copy-on-write: containers on the way to a change are shallow-copied, the rest
    is shared, and the input is never modified. ``walk(value)`` returns the input object
    itself when nothing changed."""

    def __init__(self, f):
        self.f = f

    def text(self, value):
        if not isinstance(value, str):
            return value
        new = self.f(value)
        if not isinstance(new, str):
            raise TypeError(f"map_texts: the function must return a string, not {type(new).__name__}")
        return value if new == value else new

    @staticmethod
    def field(obj, key, visit):
        """``obj`` with ``visit(obj[key])`` at ``key``: ``obj`` itself when that is unchanged."""
        if not isinstance(obj, dict) or key not in obj:
            return obj
        old = obj[key]
        new = visit(old)
        if new is old:
            return obj
        obj = dict(obj)
        obj[key] = new
        return obj

    @staticmethod
    def items(value, visit):
        """A list with ``visit`` applied to each item: the list itself when none changed."""
        if not isinstance(value, list):
            return value
        out = None
        for i, old in enumerate(value):
            new = visit(old)
            if new is not old:
                if out is None:
                    out = list(value)
                out[i] = new
        return value if out is None else out

    def strings(self, value):
        """A string, or the strings of a list (token ids are skipped)."""
        if isinstance(value, list):
            return self.items(value, self.text)
        return self.text(value)

    def part(self, part):
        if not isinstance(part, dict):
            return part
        part = self.field(part, "text", self.text)
        if part.get("type") == "refusal":
            part = self.field(part, "refusal", self.text)
        return part

    def content(self, value):
        """A message content: a string, or a list of parts."""
        if isinstance(value, list):
            return self.items(value, self.part)
        return self.text(value)

    def schema(self, value, names=False):
        """Every string leaf in document order; with ``names``, ``value`` is a
        ``properties`` object, whose keys (property names) are texts too."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return self.items(value, self.schema)
        if not isinstance(value, dict):
            return value
        out, changed = {}, False
        for key, old in value.items():
            new_key = self.text(key) if names else key
            new = self.schema(old, names=not names and key == "properties")
            changed |= new_key is not key or new is not old
            out[new_key] = new  # a renamed key that collides: first position, last value
        return out if changed else value

    def function(self, function):
        """``name``, ``description``, ``parameters``: a function tool or a legacy function."""
        function = self.field(function, "name", self.text)
        function = self.field(function, "description", self.text)
        return self.field(function, "parameters", self.schema)

    def call(self, function):
        """``name`` and ``arguments`` of a (tool or legacy) function call."""
        function = self.field(function, "name", self.text)
        return self.field(function, "arguments", self.text)

    def tool_call(self, call):
        call = self.field(call, "function", self.call)
        return self.field(call, "custom", lambda custom: self.field(custom, "input", self.text))

    def message(self, message):
        message = self.field(message, "name", self.text)
        message = self.field(message, "content", self.content)
        message = self.field(message, "refusal", self.text)
        message = self.field(message, "tool_calls", lambda calls: self.items(calls, self.tool_call))
        return self.field(message, "function_call", self.call)

    def tool(self, tool):
        if not isinstance(tool, dict):
            return tool
        kind = tool.get("type", "function")
        if kind == "function":
            return self.field(tool, "function", self.function)
        if kind == "custom":
            return self.field(tool, "custom", self.schema)
        return tool

    def json_schema(self, spec):
        spec = self.field(spec, "name", self.text)
        spec = self.field(spec, "description", self.text)
        return self.field(spec, "schema", self.schema)

    def request(self, body):
        body = self.field(body, "messages", lambda messages: self.items(messages, self.message))
        body = self.field(body, "tools", lambda tools: self.items(tools, self.tool))
        body = self.field(body, "functions", lambda functions: self.items(functions, self.function))
        body = self.field(body, "response_format", lambda rf: self.field(rf, "json_schema", self.json_schema))
        body = self.field(body, "prediction", lambda prediction: self.field(prediction, "content", self.content))
        body = self.field(body, "prompt", self.strings)
        body = self.field(body, "suffix", self.text)
        return self.field(body, "input", self.strings)

    def response(self, body):
        def choice(choice):
            choice = self.field(choice, "message", self.reply)
            return self.field(choice, "text", self.text)

        return self.field(body, "choices", lambda choices: self.items(choices, choice))

    def reply(self, message):
        """A response message or a chunk delta: content, refusal, tool call functions."""
        message = self.field(message, "content", self.content)
        message = self.field(message, "refusal", self.text)
        return self.field(
            message, "tool_calls", lambda calls: self.items(calls, lambda c: self.field(c, "function", self.call))
        )

    def chunk(self, body):
        return self.field(
            body, "choices", lambda choices: self.items(choices, lambda c: self.field(c, "delta", self.reply))
        )


def _collect(visit, body):
    texts = []

    def keep(text):
        texts.append(text)
        return text

    visit(_Walk(keep), body)
    return texts


def request_texts(body):
    """Every text of a request body (a parsed JSON object) the model reads, in order."""
    return _collect(_Walk.request, body)


def map_request_texts(body, f):
    """``body`` with every text :func:`request_texts` lists replaced by ``f(text)`` (a
    string), in the same order; ``None`` when ``f`` changed none. ``body`` is not
    modified: the result shares what did not change."""
    new = _Walk(f).request(body)
    return None if new is body else new


def response_texts(body):
    """Every generated text of a response body: content, refusal, tool calls, ``text``."""
    return _collect(_Walk.response, body)


def chunk_texts(chunk):
    """Every text a stream chunk adds: the deltas' content, refusal and tool calls."""
    return _collect(_Walk.chunk, chunk)


# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): invisible characters
# that would split a keyword without showing.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
# Unicode's White_Space (PropList.txt).
_WHITE_SPACE_RANGES = (
    (0x0009, 0x000D), (0x0020, 0x0020), (0x0085, 0x0085), (0x00A0, 0x00A0), (0x1680, 0x1680),
    (0x2000, 0x200A), (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip


def _class(ranges):
    return "[" + "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in ranges).replace("\\", "\\\\") + "]"


_IGNORABLE = re.compile(_class(_IGNORABLE_RANGES))
_WHITE_SPACE_RUN = re.compile(_class(_WHITE_SPACE_RANGES) + "+")


def is_default_ignorable(ch):
    """Whether the character ``ch`` is a Default_Ignorable_Code_Point."""
    return _IGNORABLE.fullmatch(ch) is not None


def is_white_space(ch):
    """Whether the character ``ch`` is White_Space."""
    return _WHITE_SPACE_RUN.fullmatch(ch) is not None


def normalize(text):
    """The form guardrails match text in, the same in every hookgate SDK:

    1. Unicode NFKC (fullwidth ``ｓｅｃｒｅｔ`` → ``secret``, ``ﬁ`` → ``fi``, ``²`` → ``2``);
    2. every Default_Ignorable_Code_Point removed (soft hyphen, zero-width space and
       joiners, bidi controls, variation selectors, tag characters, ...), then NFKC
       again if any was: an ignorable between a letter and its combining mark would
       otherwise keep them apart (``cafe<ZWSP><U+0301>`` → ``café``);
    3. every run of White_Space (tabs, newlines, no-break and ideographic spaces, ...)
       replaced by one space, and the ends trimmed;
    4. lower-cased with the full Unicode mapping (``str.lower``: ``ẞ`` → ``ß``, ``İ`` →
       ``i̇``), then Greek final sigma ``ς`` folded to ``σ``: engines disagree on when
       ``Σ`` lower-cases to ``ς``, and a word should match wherever it ends.

    Look-alikes from other scripts are not folded: Cyrillic ``е`` stays distinct from
    Latin ``e``. The Unicode version is the runtime's (``unicodedata.unidata_version``):
    results agree across the SDKs for characters assigned in all their versions.
    """
    text = unicodedata.normalize("NFKC", text)
    stripped = _IGNORABLE.sub("", text)
    if len(stripped) != len(text):  # "e<ZWSP><U+0301>": now adjacent, they compose
        text = unicodedata.normalize("NFKC", stripped)
    text = _WHITE_SPACE_RUN.sub(" ", text).strip(" ")
    return text.lower().replace("\u03c2", "\u03c3")
