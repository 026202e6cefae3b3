"""hookgate's stand-in for ``fastapi`` in LiteLLM callback files: ``HTTPException`` (what
callbacks raise to refuse) and ``status`` (the status code constants). Nothing else of
FastAPI exists in a plugin: there is no web server in it."""

from . import status
from .exceptions import HTTPException

__all__ = ["HTTPException", "status"]


def __getattr__(name):
    raise AttributeError(
        f"module 'fastapi' has no attribute {name!r} in a hookgate plugin: hookgate's LiteLLM compatibility "
        "layer provides fastapi.HTTPException and fastapi.status only"
    )
