"""What LiteLLM callback files import from ``litellm.utils``: ``get_formatted_prompt``,
``print_verbose``, and the response objects LiteLLM re-exports here."""

from .types import utils as _types
from .types.utils import *  # noqa: F401,F403 - re-exported, as LiteLLM's utils does

__all__ = ["get_formatted_prompt", "print_verbose", *_types.__all__]


def get_formatted_prompt(data, call_type):
    """The text of the request a prompt check reads, as LiteLLM's helper builds it: for a
    chat completion every message's string content and text parts and every tool call's
    arguments, joined; for a text completion its ``prompt``; for embeddings (and
    moderation) its ``input``, a string or a list of strings joined."""
    if call_type in ("completion", "acompletion"):
        prompt = ""
        for message in data.get("messages") or []:
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            if isinstance(content, str):
                prompt += content
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                        prompt += part["text"]
            for call in message.get("tool_calls") or []:
                arguments = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
                if isinstance(arguments, str):
                    prompt += arguments
        return prompt
    if call_type in ("text_completion", "atext_completion", "image_generation", "audio_transcription"):
        prompt = data.get("prompt")
        if isinstance(prompt, list):
            return "".join(p for p in prompt if isinstance(p, str))
        return prompt if isinstance(prompt, str) else ""
    if call_type in ("embedding", "embeddings", "aembedding", "moderation"):
        value = data.get("input")
        if isinstance(value, list):
            return "".join(item for item in value if isinstance(item, str))
        return value if isinstance(value, str) else ""
    return ""


def print_verbose(print_statement):
    """Prints when ``litellm.set_verbose`` is true (a plugin's stdout goes to the proxy's log)."""
    import litellm

    if litellm.set_verbose:
        print(print_statement)  # noqa: T201 - what LiteLLM's helper does
