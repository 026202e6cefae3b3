"""py-bundle: a Python test plugin made of two members (`hookgate_sdk.Bundle`), each a
plugin of its own module beside this one:

- `counter` (counter.py): pre-call raises a ValueError on `CRASH` (a fault); every
  success gets `x-counter-calls`, its kv count of successes;
- `guard` (guard.py): pre-call refuses `forbidden` (code `guarded`); every success gets
  `x-guard-calls`, its own kv count under the same key name.

So a test sees the members run in order, keep their kv keys apart, and that a member's
fault does not skip the guard after it.
"""

from counter import Counter
from guard import Guard

from hookgate_sdk import Bundle, export


class PyBundle(Bundle):
    name = "py-bundle"
    members = [("counter", Counter), ("guard", Guard)]


WitWorld = export(PyBundle)
