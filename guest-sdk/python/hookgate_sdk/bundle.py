"""Several plugins in one component: one Python interpreter per request instead of one
per plugin.

Each fresh instance of a Python plugin starts CPython from its snapshot, about half a
millisecond of the proxy's CPU before a hook does anything (BENCHMARKS.md, "A fresh
Python instance, taken apart"). Five plugins on fresh instances pay that five times a
request. A :class:`Bundle` runs them in one instance, so a request pays it once::

    from hookgate_sdk import Bundle, export
    from banned_keywords import BannedKeywords
    from pii_redactor import PiiRedactor

    class Guardrails(Bundle):
        name = "guardrails"
        version = "1.0.0"
        members = [("pii-redactor", PiiRedactor), ("banned-keywords", BannedKeywords)]

    WitWorld = export(Guardrails)

The member modules sit beside the bundle's module (build.py copies that folder), and may
keep their own ``export(...)`` call, so each still builds on its own.

What stays as with separate plugins:

- **Order and answers.** A hook runs the members that define it, in ``members`` order.
  The first rejection ends the hook with it, as a plugin's rejection ends the request;
  ``PreCall.respond`` from ``pre_call`` and ``ChunkOutcome.DROP`` from ``stream_chunk``
  end it with that answer.
- **State.** Each member gets its own config (the bundle's config is an object of
  configs by member name), its own ``self`` and its own ``ctx`` for each request. Its kv
  keys are its own too: the SDK prefixes them with ``<member>/``.

What differs, so bundle only plugins you would trust in one process:

- **One plugin to the host.** The operator configures, prioritises, budgets (``fuel``,
  ``timeout_ms``, ``memory_mb``) and meters the bundle as one plugin; a key's or team's
  ``guardrails`` list turns the whole bundle on or off; its log lines carry the bundle's
  name. The members share one instance, so they can read each other's objects.
- **A failure is the bundle's.** A member that raises anything but a rejection fails the
  bundle's hook, and the bundle's ``on_error`` applies. The members after it still run
  first, so a failing member never skips a later member's check: their rejection wins
  over the failure, and a failure wins over a later member's ``PreCall.respond``. As for
  any plugin, the failed hook's edits are dropped (every member's), and a bundle the
  proxy finds broken is served without as a whole under ``on_error: fail-open``, or
  quarantined as a whole: keep a guardrail's bundle ``fail-closed``.
"""

from . import kv
from ._export import LOGGING_HOOKS, cannot_reject, check_outcome, describe_exception
from .errors import Fail, Rejection
from .outcome import ChunkOutcome
from .plugin import HOOKS, Plugin, defined_hooks

__all__ = ["Bundle"]

# The hooks a member's answer can end early, and the answers that do.
_ENDS_THE_HOOK = {
    "pre_call": lambda outcome: outcome is not None,
    "stream_chunk": lambda outcome: outcome is ChunkOutcome.DROP,
}


class Bundle(Plugin):
    """A plugin made of ``members``: ``(name, PluginClass)`` pairs, run in order (see
    the module's documentation). Subclass it, set ``members``, and export the subclass."""

    members = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = [name for name, _ in cls.members]
        for name, member in cls.members:
            if not (isinstance(name, str) and name and "/" not in name):
                raise TypeError(f"{cls.__name__}.members: {name!r} is not a member name (a non-empty str without `/`)")
            if not (isinstance(member, type) and issubclass(member, Plugin)) or issubclass(member, Bundle):
                raise TypeError(f"{cls.__name__}.members: {member!r} is not a Plugin subclass (nor a Bundle)")
        if len(set(names)) != len(names):
            raise TypeError(f"{cls.__name__}.members: a name appears twice in {names}")
        for hook in HOOKS:
            runners = [index for index, (_, member) in enumerate(cls.members) if hook in defined_hooks(member)]
            if runners and hook not in cls.__dict__:
                setattr(cls, hook, _runner(hook, tuple(runners)))

    def __init__(self, config):
        config = {} if config is None else config
        if not isinstance(config, dict):
            raise ValueError("a bundle's config is an object of its members' configs, by member name")
        names = [name for name, _ in self.members]
        unknown = [name for name in config if name not in names]
        if unknown:
            raise ValueError(f"no member named {', '.join(map(repr, unknown))}; the members are {', '.join(names)}")
        self.plugins = []
        for name, member in self.members:
            try:
                self.plugins.append((name, member(config.get(name))))
            except Exception as error:
                raise ValueError(f"{name}: {error}") from None

    def new_ctx(self):
        contexts = []
        for name, plugin in self.plugins:
            try:
                contexts.append(_as_member(name, plugin.new_ctx))
            except Exception as error:
                raise Fail(f"{name}: new_ctx failed: {describe_exception(error)}") from None
        return contexts


def _as_member(name, call, *args):
    """``call(*args)`` with member ``name``'s kv keys. A plain try rather than a context
    manager: it runs for every member of every hook, in a fresh interpreter where a
    generator's set-up shows in the request's CPU."""
    outer = kv._prefix
    kv._prefix = f"{outer}{name}/"
    try:
        return call(*args)
    finally:
        kv._prefix = outer


def _runner(hook, runners):
    """The bundle's ``hook``: runs it on the members at ``runners`` (their positions)."""
    ends_the_hook = _ENDS_THE_HOOK.get(hook, lambda outcome: False)

    def run(self, ctx, *args):
        failure, answer = None, None
        for index in runners:
            name, plugin = self.plugins[index]
            try:
                outcome = check_outcome(hook, _as_member(name, getattr(plugin, hook), ctx[index], *args))
            except Rejection as rejection:
                if hook not in LOGGING_HOOKS:
                    raise
                failure = failure or f"{name}: {cannot_reject(hook, rejection)}"
                continue
            except Exception as error:
                # HookFailed (an outcome that does not fit) carries its message.
                message = getattr(error, "message", None) or describe_exception(error)
                failure = failure or f"{name}: {message}"
                continue
            if ends_the_hook(outcome):
                answer = outcome
                break
        if failure is not None:
            raise Fail(failure)
        return answer

    run.__name__ = hook
    run.__qualname__ = f"Bundle.{hook}"
    return run
