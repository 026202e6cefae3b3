"""Where the SDK's imports go: the component's host, or a local stand-in.

In a component, ``log``, ``config`` and ``kv`` are the host's imports (the modules
componentize-py generates, imported on first use so that this package also imports in
plain CPython). :mod:`hookgate_sdk.testing` installs a local stand-in with :func:`use`.
"""

import importlib

local = None  # a hookgate_sdk.testing.LocalHost, when one is installed


def use(stand_in):
    """Sends ``log``, ``config`` and ``kv`` to ``stand_in`` (``None``: to the host)."""
    global local
    local = stand_in


def imports(name):
    """The generated bindings of the host's import ``name`` (``log``, ``config``, ``kv``)."""
    try:
        return importlib.import_module(f"wit_world.imports.{name}")
    except ImportError:
        raise RuntimeError(
            f"hookgate_sdk: no host to call `{name}` on; outside a component, "
            "import hookgate_sdk.testing (it provides a local kv, log and config)"
        ) from None


def err_class():
    """componentize-py's ``Err`` (what a failed ``result`` raises)."""
    return importlib.import_module("componentize_py_types").Err
