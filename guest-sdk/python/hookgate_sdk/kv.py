"""A small key-value store for state that outlives a request: counters, rate windows.

The host namespaces keys per plugin (a plugin sees only its own) and backs the store
with memory, or with Redis so that several proxy replicas share it. Every call is bounded
by the calling hook's deadline. Expiry is in **milliseconds** (``ttl_ms``), as in every
hookgate SDK. Calls raise :class:`~hookgate_sdk.KvError`; left uncaught it fails the hook
and the host applies the plugin's ``on_error`` (after an unavailable store it counts the
store's outage, not the plugin's fault)::

    from hookgate_sdk import kv
    count = kv.incr(f"key:{req.key.id}", 1, ttl_ms=60_000)
"""

from . import _host
from .errors import KvError

__all__ = ["get", "set", "incr", "delete", "KvError"]

# What every key is prefixed with: a :class:`~hookgate_sdk.Bundle` member's name while
# its hook runs (bundle.py sets it), so that members sharing the bundle's namespace do
# not share keys.
_prefix = ""


def _ttl(ttl_ms):
    if ttl_ms is None:
        return None
    if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, (int, float)) or ttl_ms != ttl_ms or ttl_ms < 0:
        raise ValueError(f"kv: ttl_ms is a number of milliseconds, not {ttl_ms!r}")
    return min(int(ttl_ms), 2**64 - 1)


def _call(name, *args):
    if _host.local is not None:
        return getattr(_host.local, f"kv_{name}")(*args)
    host = _host.imports("kv")
    try:
        return getattr(host, name)(*args)
    except _host.err_class() as error:
        case = error.value
        raise KvError(case.value, isinstance(case, host.KvError_Unavailable)) from None


def get(key):
    """The value stored at ``key`` (a ``str``), or ``None``."""
    return _call("get", _prefix + str(key))


def set(key, value, ttl_ms=None):  # noqa: A001 - the contract's name
    """Stores ``value`` (a ``str``) at ``key``; with ``ttl_ms``, the key expires after
    that many milliseconds."""
    if not isinstance(value, str):
        raise TypeError(f"kv.set stores a str, not {type(value).__name__}")
    _call("set", _prefix + str(key), value, _ttl(ttl_ms))


def incr(key, delta=1, ttl_ms=None):
    """Atomically adds ``delta`` to the integer at ``key`` (missing counts as 0) and
    returns the new value. ``ttl_ms`` applies when this call creates the key."""
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise TypeError(f"kv.incr adds an int, not {delta!r}")
    return _call("incr", _prefix + str(key), delta, _ttl(ttl_ms))


def delete(key):
    """Deletes ``key``; ``True`` when it existed."""
    return _call("delete", _prefix + str(key))
