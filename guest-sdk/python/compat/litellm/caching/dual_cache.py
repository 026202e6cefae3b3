"""``DualCache`` over hookgate's kv store: what a callback keeps in it outlives the request
and is shared by every instance of the plugin (and by every proxy replica, when the
proxy's kv is Redis). LiteLLM's is an in-memory cache in front of Redis; here both
levels are the one kv store, so ``local_only`` changes nothing.

- Values are stored as JSON text and read back parsed (``set_cache(k, {"n": 1})`` then
  ``get_cache(k) == {"n": 1}``); a value that is not JSON (a datetime, an object) is a
  ``TypeError``.
- ``ttl`` is in **seconds**, as in LiteLLM (kv's expiry is in milliseconds: this
  converts). Without one the key does not expire.
- ``increment_cache`` / ``async_increment_cache`` add an integer atomically (kv's
  ``incr``; a fractional increment is a ``TypeError``); their ``ttl`` applies when the
  call creates the key.
- The kv store namespaces keys per plugin: two handlers built into two plugins do not
  see each other's keys.
- A kv failure raises ``hookgate_sdk.KvError`` (LiteLLM logs cache errors and reads a
  miss): the hook fails, and the host applies the plugin's ``on_error`` and counts the
  store's outage.
"""

import json
import math

from hookgate_sdk import kv

__all__ = ["DualCache"]


def _encode(value):
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"DualCache stores JSON values in hookgate's kv store: {error}") from None


def _decode(text):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text  # not written by DualCache: hand it over as it is


def _ttl_ms(options):
    ttl = options.get("ttl")
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl < 0:
        raise ValueError(f"DualCache: ttl is a number of seconds, not {ttl!r}")
    return int(round(ttl * 1000))


def _delta(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"DualCache.increment_cache adds a number, not {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise TypeError(f"DualCache.increment_cache: hookgate's kv counts in integers, and {value!r} is not one")
    return int(value)


class DualCache:
    def __init__(self, *args, **kwargs):
        # LiteLLM's arguments (the in-memory and Redis caches, default TTLs) configure
        # caches that do not exist here: the kv store is configured by the proxy.
        pass

    def get_cache(self, key, local_only=False, **kwargs):
        return _decode(kv.get(str(key)))

    async def async_get_cache(self, key, local_only=False, **kwargs):
        return self.get_cache(key)

    def batch_get_cache(self, keys, parent_otel_span=None, local_only=False, **kwargs):
        return [self.get_cache(key) for key in keys]

    async def async_batch_get_cache(self, keys, parent_otel_span=None, local_only=False, **kwargs):
        return self.batch_get_cache(keys)

    def set_cache(self, key, value, local_only=False, **kwargs):
        kv.set(str(key), _encode(value), ttl_ms=_ttl_ms(kwargs))

    async def async_set_cache(self, key, value, local_only=False, **kwargs):
        self.set_cache(key, value, **kwargs)

    async def async_set_cache_pipeline(self, cache_list, local_only=False, **kwargs):
        for key, value in cache_list:
            self.set_cache(key, value, **kwargs)

    def increment_cache(self, key, value, local_only=False, **kwargs):
        return kv.incr(str(key), _delta(value), ttl_ms=_ttl_ms(kwargs))

    async def async_increment_cache(self, key, value, parent_otel_span=None, local_only=False, **kwargs):
        return self.increment_cache(key, value, **kwargs)

    def delete_cache(self, key):
        kv.delete(str(key))

    async def async_delete_cache(self, key):
        self.delete_cache(key)

    def flush_cache(self):
        raise NotImplementedError("DualCache.flush_cache: hookgate's kv store deletes keys one by one (delete_cache)")
