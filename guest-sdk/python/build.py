#!/usr/bin/env python3
"""Builds a Python hookgate plugin into a WebAssembly component with componentize-py.

    python guest-sdk/python/build.py path/to/app.py -o my-plugin.wasm [--sidecar my.yaml]

``app.py`` is the module that calls ``export(MyPlugin)`` (``WitWorld = export(MyPlugin)``);
this SDK and the module's own folder are on its import path: copies of the folder's
``.py`` files and packages (folders with an ``__init__.py``), and nothing else of it, as
the module's top level runs during the build with access to every folder on that path.
Vendor a pure-Python dependency into the folder as a package; site-packages is not used. componentize-py comes from
``requirements.txt`` (``make pyenv`` installs it into ``target/pyenv``).

The component exports ``setup`` and exactly the hooks the plugin class defines (contract
``hookgate:plugin@0.2``: the host learns a plugin's hooks from its exports). They are read
from the source, without running it: the ``def``s of hook methods in the body of the
class ``export(...)`` names, and in its base classes defined in the same module or in a
module beside it. build.py writes, in a temporary folder, a copy of ``wit/plugin.wit``
with a world ``hookgate-export`` that exports those interfaces, and an entry module that
imports ``app`` and takes the classes componentize-py looks for from the SDK; inside
componentize-py the SDK checks the hooks found against the class's real ones.

**LiteLLM callback files** build unchanged, one component per handler instance::

    python guest-sdk/python/build.py custom_callbacks.py --handler proxy_handler_instance -o x.wasm
    python guest-sdk/python/build.py custom_callbacks.py --handler a --handler b -o plugins/

With ``--handler`` the file is a LiteLLM ``custom_callbacks.py`` and ``NAME`` a
module-level ``CustomLogger`` instance in it. ``-o`` is the component to write, or (for
several handlers, or an existing directory) the folder to write ``<module>.<NAME>.wasm``
into: the plugin name LiteLLM's ``callbacks: <module>.<NAME>`` names. The folder
``compat/`` (hookgate's ``litellm`` and ``fastapi``) goes on the import path, and the
entry module wraps the instance with ``hookgate_sdk.litellm.plugin_for``. The hooks are
read from the source of the instance's class and its bases in the same module (or a
module beside it): each supported override maps onto the hooks that run it (table in
``hookgate_sdk/_litellm_api.py`` and docs/litellm-migration.md); an override hookgate
cannot run, or a missing handler, is an error naming it.

**Several handlers in one component** (``--bundle NAME``, two or more ``--handler``)::

    python guest-sdk/python/build.py custom_callbacks.py --handler a --handler b --bundle my-callbacks -o plugins/

writes ``plugins/my-callbacks.wasm``, the plugin ``NAME``: the handlers as the members of
one ``hookgate_sdk.Bundle`` (``hookgate_sdk.litellm.bundle_for``), run in ``--handler``
order, so a request on fresh instances starts one interpreter instead of one per handler.
The config's ``callbacks`` then names ``NAME`` where it named the handlers
(docs/litellm-migration.md, "One component for several handlers").
"""

import argparse
import ast
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

SDK = pathlib.Path(__file__).resolve().parent
WIT = SDK.parent.parent / "wit" / "plugin.wit"
COMPAT = SDK / "compat"  # hookgate's `litellm` and `fastapi`, for LiteLLM callback files
ENTRY = "_hookgate_entry"
# Module names the generated bindings, componentize-py or the SDK already use.
RESERVED = {
    "wit_world", "hookgate_sdk", "componentize_py_types", "componentize_py_runtime",
    "componentize_py_async_support", "poll_loop", ENTRY,
}  # fmt: skip
# What compat/ provides: a LiteLLM callback module must not shadow it.
RESERVED_LITELLM = {"litellm", "fastapi"}
# The Plugin hook methods and the WIT interface each one exports, in the contract's order.
HOOKS = {
    "pre_call": "pre-call",
    "moderation": "moderation",
    "post_call_success": "post-call-success",
    "post_call_failure": "post-call-failure",
    "stream_chunk": "stream-chunk",
    "stream_end": "stream-end",
    "log_success": "log-success",
    "log_failure": "log-failure",
}


class BuildError(Exception):
    pass


class Module:
    """One parsed source file of the plugin's folder."""

    def __init__(self, path):
        self.path = path
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.classes = {node.name: node for node in self.tree.body if isinstance(node, ast.ClassDef)}
        self.imported = {}  # local name -> (module, name) of `from module import name`
        for node in self.tree.body:
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    self.imported[alias.asname or alias.name] = (node.module, alias.name)

    def where(self, node):
        return f"{self.path}:{node.lineno}"


def exported_class(module):
    """The class name the module's top-level ``export(...)`` call names."""
    calls = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name == "export" and len(node.args) == 1 and not node.keywords:
                calls.append(node)
    if not calls:
        raise BuildError(f"{module.path}: no `export(MyPlugin)` call; end the module with `WitWorld = export(MyPlugin)`")
    if len(calls) > 1:
        raise BuildError(f"{module.path}: export() is called {len(calls)} times; a component exports one plugin class")
    (call,) = calls
    if not isinstance(call.args[0], ast.Name):
        raise BuildError(f"{module.where(call)}: export() takes the plugin class by its name, e.g. export(MyPlugin)")
    return call.args[0].id


# What `resolve` answers for the SDK's Bundle: a base whose hooks are its members'.
BUNDLE = "Bundle"


def resolve(module, name, folder, seen):
    """The (module, class node) a class name refers to in ``module``, or None for the
    SDK's Plugin, or ``BUNDLE`` for its Bundle."""
    if name in module.classes:
        return module, module.classes[name]
    if name in module.imported:
        source, original = module.imported[name]
        if source == "hookgate_sdk" or source.startswith("hookgate_sdk."):
            if original == "Plugin":
                return None
            if original == "Bundle":
                return BUNDLE
            raise BuildError(f"{module.path}: `{name}` comes from hookgate_sdk but is neither Plugin nor Bundle")
        path = folder.joinpath(*source.split(".")).with_suffix(".py")
        if path.is_file():
            other = seen.setdefault(path, Module(path))
            return resolve(other, original, folder, seen)
    if name == "Plugin":
        return None
    raise BuildError(
        f"{module.path}: cannot see class `{name}` (a base of the plugin class) without running code; "
        "define it in the plugin's module or in a module beside it"
    )


def hooks_of(module, node, folder, seen, depth=0):
    """The hook methods class ``node`` and its bases define (as names)."""
    if depth > 32:
        raise BuildError(f"{module.where(node)}: class bases nest too deep")
    found = set()
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name in HOOKS:
            found.add(stmt.name)
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            found.update(t.id for t in targets if isinstance(t, ast.Name) and t.id in HOOKS)
    for base in node.bases:
        if isinstance(base, ast.Attribute) and base.attr in ("Plugin", BUNDLE):
            target = None if base.attr == "Plugin" else BUNDLE
        elif isinstance(base, ast.Name):
            target = resolve(module, base.id, folder, seen)
        else:
            raise BuildError(f"{module.where(node)}: a base class must be named plainly (`class P(Plugin)`)")
        if target == BUNDLE:
            found |= members_hooks(module, node, folder, seen, depth)
        elif target is not None:
            found |= hooks_of(*target, folder, seen, depth + 1)
    return found


def members_hooks(module, node, folder, seen, depth):
    """The hooks of a Bundle subclass: those of the classes its ``members`` list names,
    written out in its body as ``members = [("name", MemberClass), ...]``."""
    lists = [
        stmt.value for stmt in node.body
        if isinstance(stmt, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "members" for t in stmt.targets)
    ]  # fmt: skip
    if len(lists) != 1 or not isinstance(lists[0], (ast.List, ast.Tuple)):
        raise BuildError(
            f"{module.where(node)}: a Bundle sets `members` once in its class body, as a list: "
            '`members = [("name", MemberClass), ...]`'
        )
    found = set()
    for pair in lists[0].elts:
        if not (isinstance(pair, ast.Tuple) and len(pair.elts) == 2 and isinstance(pair.elts[1], ast.Name)):
            raise BuildError(f"{module.where(pair)}: each member is a pair (\"name\", MemberClass), the class by its name")
        target = resolve(module, pair.elts[1].id, folder, seen)
        if target is None or target == BUNDLE:
            raise BuildError(f"{module.where(pair)}: a member is a subclass of Plugin (not Plugin or Bundle itself)")
        found |= hooks_of(*target, folder, seen, depth + 1)
    return found


def find_hooks(app):
    """The plugin class's name and its hooks, in the contract's order."""
    module = Module(app)
    name = exported_class(module)
    target = resolve(module, name, app.parent, {app: module})
    if target is None or target == BUNDLE:
        raise BuildError(f"{app}: export() must name a subclass of Plugin, not Plugin or Bundle itself")
    found = hooks_of(*target, app.parent, {app: module})
    return name, [hook for hook in HOOKS if hook in found]


def world(hooks):
    """The world exporting `setup` and `hooks`, in the contract's package."""
    lines = ["", "/// Generated by guest-sdk/python/build.py: setup and the hooks the plugin defines.",
             "world hookgate-export {", "    include imports;", "    export setup;"]  # fmt: skip
    lines += [f"    export {HOOKS[hook]};" for hook in hooks]
    return "\n".join(lines + ["}", ""])


def entry(app, class_name, hooks):
    """The module componentize-py builds: the app, and the classes of the exports."""
    names = ["Setup"] + ["".join(part.title() for part in hook.split("_")) for hook in hooks]
    return (
        f'"""Generated by guest-sdk/python/build.py for {app.name} ({class_name}): the component\'s exports."""\n\n'
        "import importlib\n\n"
        f"importlib.import_module({app.stem!r})\n\n"
        "from hookgate_sdk._component import exports  # noqa: E402\n\n"
        f"{', '.join(names)} = exports({hooks!r})\n"
    )


def componentize_py():
    beside = pathlib.Path(sys.executable).parent / "componentize-py"
    found = str(beside) if beside.exists() else shutil.which("componentize-py")
    if not found:
        sys.exit("componentize-py not found: pip install -r guest-sdk/python/requirements.txt")
    return found


# -- LiteLLM callback files


def _litellm_api():
    """The table of LiteLLM's callback methods the SDK runs (shared with the SDK's adapter)."""
    sys.path.insert(0, str(SDK))
    try:
        from hookgate_sdk import _litellm_api
    finally:
        sys.path.remove(str(SDK))
    return _litellm_api


def does_nothing(function):
    """Whether a method's body does nothing (``pass``, ``...``, a docstring, a bare
    ``return``): such an override changes nothing and is not exported. The SDK decides
    the same from the compiled code inside the component."""
    if any(not (isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod")) for d in function.decorator_list):
        return False
    for stmt in function.body:
        if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
            continue
        # `return` / `return None`: what follows cannot run (the compiler drops it too).
        return isinstance(stmt, ast.Return) and (stmt.value is None or (isinstance(stmt.value, ast.Constant) and stmt.value.value is None))
    return True


def signature_problem(function, offered):
    """Why LiteLLM's keyword arguments ``offered`` cannot call ``function`` (a method), or
    ``None``: a parameter without a default that is not one of them (or only
    positional). The SDK's adapter checks the same with ``inspect.signature``."""
    arguments = function.args
    if arguments.kwarg is not None:
        return None
    positional = arguments.posonlyargs + arguments.args
    required = positional[: len(positional) - len(arguments.defaults)]
    if not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list):
        required = required[1:]  # self (or cls)
    for argument in required:
        if argument in arguments.posonlyargs or argument.arg not in offered:
            return argument.arg
    for argument, default in zip(arguments.kwonlyargs, arguments.kw_defaults):
        if default is None and argument.arg not in offered:
            return argument.arg
    return None


BASE = "base"  # what resolve_handler_class returns for LiteLLM's own base classes


def resolve_handler_class(module, name, folder, seen, api):
    """The (module, class node) class name ``name`` refers to in ``module``, or ``BASE``
    for ``CustomLogger``/``CustomGuardrail``."""
    if name in module.classes:
        return module, module.classes[name]
    if name in module.imported:
        source, original = module.imported[name]
        if source == "litellm" or source.startswith("litellm."):
            if original in api.BASE_CLASSES:
                return BASE
            raise BuildError(
                f"{module.path}: `{name}` comes from {source}, which hookgate's LiteLLM layer does not have as a base "
                f"class; handlers subclass {' or '.join(api.BASE_CLASSES)}"
            )
        path = folder.joinpath(*source.split(".")).with_suffix(".py")
        if path.is_file():
            other = seen.setdefault(path, Module(path))
            return resolve_handler_class(other, original, folder, seen, api)
    raise BuildError(
        f"{module.path}: cannot see class `{name}` (the handler's class or a base of it) without running code; "
        "define it in the callback module or in a module beside it"
    )


def handler_methods(module, node, folder, seen, api, found, depth=0):
    """Adds to ``found`` the callback methods class ``node`` and its bases define, each
    name once, the first definition in method-resolution order winning: ``{name:
    (where, does nothing, the def or None)}``."""
    if depth > 32:
        raise BuildError(f"{module.where(node)}: class bases nest too deep")
    api_names = set(api.SUPPORTED) | set(api.UNSUPPORTED)
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and stmt.name in api_names:
            found.setdefault(stmt.name, (module.where(stmt), does_nothing(stmt), stmt))
        elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in api_names:
                    found.setdefault(target.id, (module.where(stmt), False, None))
    for base in node.bases:
        if isinstance(base, ast.Attribute) and base.attr in api.BASE_CLASSES:
            continue
        if isinstance(base, ast.Name) and base.id == "object":
            continue
        if not isinstance(base, ast.Name):
            raise BuildError(f"{module.where(node)}: a base class must be named plainly (`class H(CustomLogger)`)")
        target = resolve_handler_class(module, base.id, folder, seen, api)
        if target is not BASE:
            handler_methods(*target, folder, seen, api, found, depth + 1)
    return found


def handler_instances(module):
    """The module-level assignments ``name = SomeClass(...)``: ``{name: node}`` (the last
    one of each name, as Python keeps)."""
    found = {}
    for stmt in module.tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = (stmt, value)
    return found


def find_litellm_hooks(app, handler):
    """The class of LiteLLM handler instance ``handler`` in ``app`` and the hooks its
    component exports, in the contract's order."""
    api = _litellm_api()
    module = Module(app)
    assigned = handler_instances(module)
    if handler not in assigned:
        instances = sorted(
            name for name, (_, value) in assigned.items()
            if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in module.classes
        )  # fmt: skip
        known = f"; it makes {', '.join(f'`{name}`' for name in instances)}" if instances else ""
        raise BuildError(f"{app}: no module-level `{handler} = SomeHandler(...)`{known}")
    stmt, value = assigned[handler]
    if isinstance(value, ast.Name) and value.id in module.classes:
        raise BuildError(
            f"{module.where(stmt)}: `{handler}` is the class {value.id}, not an instance of it; LiteLLM's callbacks "
            f"name an instance (`{handler} = {value.id}()`)"
        )
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)):
        raise BuildError(
            f"{module.where(stmt)}: build.py reads the handler's class from `{handler} = SomeHandler(...)`, a class "
            "called by its name; it cannot see what this assignment makes without running the module"
        )
    class_name = value.func.id
    seen = {app: module}
    target = resolve_handler_class(module, class_name, app.parent, seen, api)
    if target is BASE:
        raise BuildError(f"{module.where(stmt)}: `{handler}` is a bare {class_name}: it overrides nothing, so it does nothing")
    methods = handler_methods(*target, app.parent, seen, api, {})
    overridden = [name for name, (_, quiet, _) in methods.items() if not quiet]
    unsupported = [name for name in overridden if name in api.UNSUPPORTED]
    if unsupported:
        where = methods[unsupported[0]][0]
        raise BuildError(api.unsupported_message(f"{where}: class {class_name}", unsupported))
    for name in overridden:
        where, _, function = methods[name]
        offered = api.SUPPORTED[name][1]
        missing = signature_problem(function, offered) if function is not None else None
        if missing is not None:
            raise BuildError(
                f"{where}: {class_name}.{name} requires `{missing}`, which LiteLLM does not pass: "
                f"it passes {', '.join(offered)}, by name"
            )
    return class_name, api.plugin_hooks([name for name in overridden if name in api.SUPPORTED])


def litellm_entry(app, handlers, plugin_name, hooks, bundle=False):
    """The module componentize-py builds for LiteLLM handlers: the callback module, then
    the handler wrapped by the SDK's adapter (``plugin_for``), or with ``bundle`` the
    handlers as the members of one plugin (``bundle_for``, members named
    ``<module>.<handler>``), checked once for every instance (``seal``), and the classes
    of the exports."""
    names = ["Setup"] + ["".join(part.title() for part in hook.split("_")) for hook in hooks]
    what = f"LiteLLM handlers {', '.join(handlers)} in one bundle" if bundle else f"LiteLLM handler {handlers[0]}"
    text = (
        f'"""Generated by guest-sdk/python/build.py for {app.name}, {what}: the component\'s exports."""\n\n'
        "import importlib\n\n"
        "from hookgate_sdk import export\n"
        f"from hookgate_sdk.litellm import {'bundle_for' if bundle else 'plugin_for'}, seal\n\n"
        f"_module = importlib.import_module({app.stem!r})\n"
        f"for _handler in {handlers!r}:\n"
        "    if not hasattr(_module, _handler):\n"
        f"        raise AttributeError(f'{app.name} has no module-level {{_handler!r}} after running')\n"
    )
    if bundle:
        members = ", ".join(f"({f'{app.stem}.{handler}'!r}, getattr(_module, {handler!r}))" for handler in handlers)
        text += f"export(seal(bundle_for([{members}], name={plugin_name!r})))\n\n"
    else:
        text += f"export(seal(plugin_for(getattr(_module, {handlers[0]!r}), name={plugin_name!r})))\n\n"
    return text + "from hookgate_sdk._component import exports  # noqa: E402\n\n" + f"{', '.join(names)} = exports({hooks!r})\n"


def check_handlers(handlers):
    """Each ``--handler`` a Python name, none twice."""
    if len(set(handlers)) != len(handlers):
        raise BuildError("a --handler is named twice")
    for handler in handlers:
        if not handler.isidentifier():
            raise BuildError(f"--handler {handler!r}: not a Python name")


def bundle_hooks(hooks_of_each):
    """The hooks a bundle of handlers exports: every hook any of them needs, in the
    contract's order."""
    return [hook for hook in HOOKS if any(hook in hooks for hooks in hooks_of_each)]


def bundle_output(name, handlers, output):
    """Where ``--bundle name`` writes its one component: ``output`` itself when it names a
    ``.wasm`` file, else ``output/<name>.wasm``."""
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name):
        raise BuildError(f"--bundle {name!r}: not a plugin name (1 to 64 characters of A-Z, a-z, 0-9, '.', '_', '-')")
    if len(handlers) < 2:
        raise BuildError("--bundle needs two or more --handler: a bundle of one is that handler's own plugin")
    check_handlers(handlers)
    if output.suffix == ".wasm" and not output.is_dir():
        return output
    if output.exists() and not output.is_dir():
        raise BuildError(f"-o {output}: write the bundle into a folder or a .wasm file")
    return output / f"{name}.wasm"


def litellm_outputs(app, handlers, output):
    """Where each handler's component goes: ``output`` itself for one handler when it
    names a ``.wasm`` file; else the folder ``output`` (made if missing), as
    ``output/<module>.<handler>.wasm``."""
    check_handlers(handlers)
    if len(handlers) == 1 and output.suffix == ".wasm" and not output.is_dir():
        return {handlers[0]: output}
    if output.exists() and not output.is_dir():
        raise BuildError(f"-o {output}: handlers are written into a folder (or, one handler, into a .wasm file)")
    return {handler: output / f"{app.stem}.{handler}.wasm" for handler in handlers}


# -- building


def python_sources(folder, into):
    """Copies what a module may import from ``folder`` into ``into``: its ``.py`` files and
    its packages (folders with an ``__init__.py``), theirs at any depth. Symlinks are not
    followed."""
    into.mkdir(parents=True, exist_ok=True)
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink():
            if entry.suffix == ".py" or (entry / "__init__.py").exists():
                print(f"build.py: {entry} is a symlink: not copied (copy the file instead)", file=sys.stderr)
            continue
        if entry.is_file() and entry.suffix == ".py":
            shutil.copyfile(entry, into / entry.name)
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            python_sources(entry, into / entry.name)


def componentize(app, output, hooks, entry_text, litellm=False):
    """Runs componentize-py: ``entry_text`` as the entry module, then (for a LiteLLM file)
    ``compat/``, the module's folder and the SDK on the import path. Exits on failure.

    componentize-py runs the module's top level while it builds, with read and write
    access to every folder on the import path, and adds the build machine's
    site-packages unless ``VIRTUAL_ENV`` names another. So the import path is copies in a
    temporary folder: the module's Python sources alone (not a config, keys or the plugin
    directory beside it), the SDK and ``compat/`` (which a module could otherwise rewrite
    for every later build, or to run code here), and an empty site-packages."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hookgate-build-") as temp:
        temp = pathlib.Path(temp)
        (temp / "wit").mkdir()
        # The WASI packages the contract imports (wasi:http and what it uses).
        shutil.copytree(WIT.parent / "deps", temp / "wit" / "deps")
        (temp / "wit" / "plugin.wit").write_text(WIT.read_text(encoding="utf-8") + world(hooks), encoding="utf-8")
        (temp / "py").mkdir()
        (temp / "py" / f"{ENTRY}.py").write_text(entry_text, encoding="utf-8")
        no_cache = shutil.ignore_patterns("__pycache__")
        paths = []
        if litellm:
            # compat/ before the file's folder: its `litellm` and `fastapi` are the ones to use.
            shutil.copytree(COMPAT, temp / "compat", ignore=no_cache)
            paths.append(temp / "compat")
        python_sources(app.parent, temp / "app")
        shutil.copytree(SDK / "hookgate_sdk", temp / "sdk" / "hookgate_sdk", ignore=no_cache)
        paths += [temp / "app", temp / "sdk"]
        (temp / "venv" / "lib" / "site-packages").mkdir(parents=True)
        command = [componentize_py(), "-d", str(temp / "wit"), "-w", "hookgate-export", "componentize", "-p", str(temp / "py")]
        for path in paths:
            command += ["-p", str(path)]
        command += [ENTRY, "-o", str(output)]
        result = subprocess.run(command, env={**os.environ, "VIRTUAL_ENV": str(temp / "venv")})
    if result.returncode != 0:
        sys.exit(f"componentize-py failed (exit {result.returncode}) building {output.name} from {app}")


def report(output, started, what, hooks):
    size = output.stat().st_size / 1e6
    exported = ", ".join(HOOKS[hook] for hook in hooks) or "no hooks"
    print(f"built {output} ({size:.1f} MB) in {time.monotonic() - started:.1f} s: {what}, {exported}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", type=pathlib.Path, help="the plugin module, e.g. app.py (with --handler: a LiteLLM callback file)")
    parser.add_argument("-o", "--output", type=pathlib.Path, required=True, help="the .wasm to write (with several --handler: a folder)")
    parser.add_argument("--sidecar", type=pathlib.Path, help="settings YAML to copy beside each component as <name>.yaml")
    parser.add_argument(
        "--handler", action="append", default=[], metavar="NAME",
        help="a LiteLLM CustomLogger instance in the file (repeat for several): one component each",
    )  # fmt: skip
    parser.add_argument(
        "--bundle", metavar="NAME",
        help="the --handler instances as one component, the plugin NAME (members run in --handler order)",
    )  # fmt: skip
    args = parser.parse_args()
    app = args.app.resolve()
    if not app.is_file() or app.suffix != ".py":
        sys.exit(f"{args.app}: not a Python file")
    reserved = RESERVED | (RESERVED_LITELLM if args.handler else set())
    if app.stem in reserved or not app.stem.isidentifier():
        sys.exit(f"{args.app}: rename the module; `{app.stem}` is not an importable name of its own")
    output = args.output.resolve()
    if args.bundle is not None and not args.handler:
        sys.exit("build.py: --bundle bundles LiteLLM handlers: name them with --handler")
    if args.handler:
        bundle = args.bundle is not None
        try:
            if bundle:
                outputs = {args.bundle: bundle_output(args.bundle, args.handler, output)}
            else:
                outputs = litellm_outputs(app, args.handler, output)
            found = {handler: find_litellm_hooks(app, handler) for handler in args.handler}
        except (BuildError, SyntaxError) as error:
            sys.exit(f"build.py: {error}")
        if bundle:
            hooks = bundle_hooks([hooks for _, hooks in found.values()])
            what = f"{args.bundle} (LiteLLM handlers {', '.join(args.handler)})"
            builds = [(outputs[args.bundle], args.handler, args.bundle, hooks, what)]
        else:
            builds = [
                (outputs[handler], [handler], f"{app.stem}.{handler}", hooks, f"{app.stem}.{handler} ({class_name})")
                for handler, (class_name, hooks) in found.items()
            ]
        for target, handlers, plugin_name, hooks, what in builds:
            started = time.monotonic()
            componentize(app, target, hooks, litellm_entry(app, handlers, plugin_name, hooks, bundle), litellm=True)
            if args.sidecar:
                shutil.copyfile(args.sidecar, target.with_suffix(".yaml"))
            report(target, started, what, hooks)
        return
    try:
        class_name, hooks = find_hooks(app)
    except (BuildError, SyntaxError) as error:
        sys.exit(f"build.py: {error}")
    started = time.monotonic()
    componentize(app, output, hooks, entry(app, class_name, hooks))
    if args.sidecar:
        shutil.copyfile(args.sidecar, output.with_suffix(".yaml"))
    report(output, started, class_name, hooks)


if __name__ == "__main__":
    main()
