#!/usr/bin/env python3
"""Builds a Python hookgate plugin into a WebAssembly component with componentize-py.

    python guest-sdk/python/build.py path/to/app.py -o my-plugin.wasm [--sidecar my.yaml]

``app.py`` is the module that calls ``export(MyPlugin)`` (``WitWorld = export(MyPlugin)``);
this SDK and the module's own folder are on its import path. componentize-py comes from
``requirements.txt`` (``make pyenv`` installs it into ``target/pyenv``).

The component exports ``setup`` and exactly the hooks the plugin class defines (contract
``hookgate:plugin@0.2``: the host learns a plugin's hooks from its exports). They are read
from the source, without running it: the ``def``s of hook methods in the body of the
class ``export(...)`` names, and in its base classes defined in the same module or in a
module beside it. build.py writes, in a temporary folder, a copy of ``wit/plugin.wit``
with a world ``hookgate-export`` that exports those interfaces, and an entry module that
imports ``app`` and takes the classes componentize-py looks for from the SDK; inside
componentize-py the SDK checks the hooks found against the class's real ones.
"""

import argparse
import ast
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

SDK = pathlib.Path(__file__).resolve().parent
WIT = SDK.parent.parent / "wit" / "plugin.wit"
ENTRY = "_hookgate_entry"
# Module names the generated bindings, componentize-py or the SDK already use.
RESERVED = {
    "wit_world", "hookgate_sdk", "componentize_py_types", "componentize_py_runtime",
    "componentize_py_async_support", "poll_loop", ENTRY,
}  # fmt: skip
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


def resolve(module, name, folder, seen):
    """The (module, class node) a class name refers to in ``module``, or None for the
    SDK's Plugin."""
    if name in module.classes:
        return module, module.classes[name]
    if name in module.imported:
        source, original = module.imported[name]
        if source == "hookgate_sdk" or source.startswith("hookgate_sdk."):
            if original == "Plugin":
                return None
            raise BuildError(f"{module.path}: `{name}` comes from hookgate_sdk but is not Plugin")
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
        if isinstance(base, ast.Attribute) and base.attr == "Plugin":
            continue
        if not isinstance(base, ast.Name):
            raise BuildError(f"{module.where(node)}: a base class must be named plainly (`class P(Plugin)`)")
        target = resolve(module, base.id, folder, seen)
        if target is not None:
            found |= hooks_of(*target, folder, seen, depth + 1)
    return found


def find_hooks(app):
    """The plugin class's name and its hooks, in the contract's order."""
    module = Module(app)
    name = exported_class(module)
    target = resolve(module, name, app.parent, {app: module})
    if target is None:
        raise BuildError(f"{app}: export() must name a subclass of Plugin, not Plugin itself")
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", type=pathlib.Path, help="the plugin module, e.g. app.py")
    parser.add_argument("-o", "--output", type=pathlib.Path, required=True, help="the .wasm to write")
    parser.add_argument("--sidecar", type=pathlib.Path, help="settings YAML to copy beside it as <name>.yaml")
    args = parser.parse_args()
    app = args.app.resolve()
    if not app.is_file() or app.suffix != ".py":
        sys.exit(f"{args.app}: not a Python file")
    if app.stem in RESERVED or not app.stem.isidentifier():
        sys.exit(f"{args.app}: rename the module; `{app.stem}` is not an importable name of its own")
    try:
        class_name, hooks = find_hooks(app)
    except (BuildError, SyntaxError) as error:
        sys.exit(f"build.py: {error}")
    output = args.output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="hookgate-build-") as temp:
        temp = pathlib.Path(temp)
        (temp / "wit").mkdir()
        (temp / "wit" / "plugin.wit").write_text(WIT.read_text(encoding="utf-8") + world(hooks), encoding="utf-8")
        (temp / "py").mkdir()
        (temp / "py" / f"{ENTRY}.py").write_text(entry(app, class_name, hooks), encoding="utf-8")
        command = [
            componentize_py(), "-d", str(temp / "wit"), "-w", "hookgate-export", "componentize",
            "-p", str(temp / "py"), "-p", str(app.parent), "-p", str(SDK), ENTRY, "-o", str(output),
        ]  # fmt: skip
        result = subprocess.run(command)
    if result.returncode != 0:
        sys.exit(f"componentize-py failed (exit {result.returncode}) building {args.app}")
    if args.sidecar:
        shutil.copyfile(args.sidecar, output.with_suffix(".yaml"))
    size = output.stat().st_size / 1e6
    exported = ", ".join(HOOKS[hook] for hook in hooks) or "no hooks"
    print(f"built {output} ({size:.1f} MB) in {time.monotonic() - started:.1f} s: {class_name}, {exported}")


if __name__ == "__main__":
    main()
