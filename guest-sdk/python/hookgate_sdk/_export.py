"""The glue between a :class:`~hookgate_sdk.Plugin` class and the component's exports,
free of the generated bindings (so that :mod:`hookgate_sdk.testing` drives plugins
through exactly this code in plain CPython).

An :class:`Exported` keeps the instance's plugin object (made by ``setup.init`` or the
first hook) and the context of the request it is serving, made afresh by the plugin's
``new_ctx`` whenever a hook arrives with another request id. It runs a hook, checks that
what the hook returned fits it, and turns exceptions into a rejection (:class:`Rejection`,
passed on) or a failure (:class:`HookFailed`).
"""

import json
import sys
import traceback

from . import _host
from .errors import EditError, Fail, KvError, Rejection
from .outcome import ChunkOutcome, Respond
from .plugin import HOOKS, Plugin, defined_hooks

_exported = []  # every export() of this process, in order


class HookFailed(Exception):
    """A hook failed: ``message`` is what the host logs (its ``fail`` reason)."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class ConfigRefused(Exception):
    """``setup.init`` refuses the config with this message."""


_ANSWERS = {
    "pre_call": "return None to go on, PreCall.respond(text) to answer, or raise a Rejection",
    "moderation": "return None to approve, or raise a Rejection",
    "post_call_success": "return None to go on (with your edits), or raise a Rejection",
    "post_call_failure": "return None to keep the error, or raise a Rejection",
    "stream_chunk": "return None to forward the chunk, ChunkOutcome.DROP, or raise a Rejection",
    "stream_end": "return None, or raise a Rejection",
    "log_success": "return None",
    "log_failure": "return None",
}


# The hooks that run after the answer: they cannot reject.
LOGGING_HOOKS = ("log_success", "log_failure")


def cannot_reject(hook, rejection):
    """The failure message for a logging ``hook`` that raised ``rejection``."""
    return f"{hook} raised {rejection!r}: the logging hooks cannot reject"


def parse_config(text):
    """The config's JSON text, parsed; ``None`` when none was given."""
    if text is None or not text.strip():
        return None
    return json.loads(text)


def describe_exception(error):
    """The failure message for an exception a hook raised (and its traceback to stderr,
    which the host writes to its log under the plugin's name)."""
    if isinstance(error, Fail):
        return error.reason
    if isinstance(error, EditError):
        message = f"edit refused: {error}"
    elif isinstance(error, KvError):
        message = str(error)
    else:
        message = "".join(traceback.format_exception_only(type(error), error)).strip()
    traceback.print_exception(type(error), error, error.__traceback__, file=sys.stderr)
    return message


class Exported:
    """What ``export(PluginClass)`` returns: the plugin class, the hooks it defines, and
    the instance's plugin object and current request context."""

    def __init__(self, plugin_class):
        if not (isinstance(plugin_class, type) and issubclass(plugin_class, Plugin)):
            raise TypeError(f"export() takes a subclass of hookgate_sdk.Plugin, not {plugin_class!r}")
        self.plugin_class = plugin_class
        self.hooks = defined_hooks(plugin_class)
        self.plugin = None
        self.request_id = None
        self.ctx = None

    def __repr__(self):
        return f"export({self.plugin_class.__name__}): hooks {', '.join(HOOKS[h] for h in self.hooks) or 'none'}"

    def describe(self):
        """(name, version), as ``setup.describe`` reports them."""
        return str(self.plugin_class.name), str(self.plugin_class.version)

    def init(self, config_text):
        """``setup.init``: makes the plugin from ``config_text``, or raises
        :class:`ConfigRefused` saying why not."""
        try:
            config = parse_config(config_text)
        except ValueError as error:
            raise ConfigRefused(f"invalid config: not JSON: {error}") from None
        try:
            self.plugin = self.plugin_class(config)
        except Exception as error:  # the operator reads this: say what is wrong
            raise ConfigRefused(f"invalid config: {error}") from None
        self.request_id, self.ctx = None, None

    def _plugin(self):
        if self.plugin is None:
            config_text = _host.local.config() if _host.local is not None else _host.imports("config").get()
            try:
                self.plugin = self.plugin_class(parse_config(config_text))
            except Exception as error:
                raise HookFailed(
                    f"plugin `{self.plugin_class.name}` refused at request time the config it accepted at load: "
                    f"{describe_exception(error)}"
                ) from None
        return self.plugin

    def dispatch(self, hook, call, *args):
        """Runs ``hook`` for the request ``call`` (a :class:`~hookgate_sdk.CallContext`)
        with ``args`` (the SDK's wrappers). Returns the outcome: ``None``, a
        :class:`Respond` (pre_call) or a :class:`ChunkOutcome` (stream_chunk); raises
        :class:`Rejection` or :class:`HookFailed`."""
        plugin = self._plugin()
        if self.request_id != call.request_id:
            try:
                self.ctx = plugin.new_ctx()
            except Exception as error:
                raise HookFailed(f"new_ctx failed: {describe_exception(error)}") from None
            self.request_id = call.request_id
        try:
            value = getattr(plugin, hook)(self.ctx, *args)
        except Rejection as rejection:
            if hook in LOGGING_HOOKS:
                raise HookFailed(cannot_reject(hook, rejection)) from None
            raise
        except Exception as error:
            raise HookFailed(describe_exception(error)) from None
        return check_outcome(hook, value)


def check_outcome(hook, value):
    """``value`` as an outcome of ``hook``, or :class:`HookFailed` naming both."""
    if hook == "pre_call":
        if value is None:
            return None
        if isinstance(value, Respond):
            if not isinstance(value.text, str):
                raise HookFailed(f"pre_call returned {value!r}: the answer must be a str")
            return value
    elif hook == "stream_chunk":
        if value is None or value is ChunkOutcome.PROCEED:
            return ChunkOutcome.PROCEED
        if value is ChunkOutcome.DROP:
            return value
    elif value is None:
        return None
    raise HookFailed(f"{hook} returned {value!r}, which does not fit {hook}: {_ANSWERS[hook]}")


def export(plugin_class):
    """Exports ``plugin_class`` (a :class:`~hookgate_sdk.Plugin` subclass) as the
    component's plugin: ``setup`` and one interface per hook the class defines. Write
    ``WitWorld = export(MyPlugin)`` (or just ``export(MyPlugin)``) once, at the top level
    of the module you build; build.py finds the hooks in the class body."""
    exported = Exported(plugin_class)
    _exported.append(exported)
    return exported


def registered():
    """The one :class:`Exported` of this process (build.py's entry module asks)."""
    classes = {id(e.plugin_class): e for e in _exported}
    if not classes:
        raise RuntimeError("the plugin module never calls export(PluginClass)")
    # A bundle's member modules may export their class too (so each builds on its own);
    # the bundle, exported last, is the component's plugin.
    from .bundle import Bundle  # noqa: PLC0415 - bundle.py imports this module

    last = _exported[-1].plugin_class
    members = {id(member) for _, member in last.members} if issubclass(last, Bundle) else set()
    if len(classes) > 1 and set(classes) - members - {id(last)}:
        names = ", ".join(e.plugin_class.__name__ for e in classes.values())
        raise RuntimeError(f"export() was called for several plugin classes ({names}): a component has one")
    return _exported[-1]
