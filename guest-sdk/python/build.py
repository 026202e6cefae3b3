#!/usr/bin/env python3
"""Builds a Python hookgate plugin into a WebAssembly component with componentize-py.

    python guest-sdk/python/build.py path/to/app.py -o my-plugin.wasm [--sidecar my.yaml]

`app.py` is the module that sets ``WitWorld = export(MyPlugin)``; this SDK and the
module's own folder are on its import path. componentize-py comes from
``requirements.txt`` (``make pyenv`` installs it into ``target/pyenv``).
"""

import argparse
import pathlib
import shutil
import subprocess
import sys
import time

SDK = pathlib.Path(__file__).resolve().parent
WIT = SDK.parent.parent / "wit"
# Module names the generated bindings or the SDK already use.
RESERVED = {"wit_world", "hookgate_sdk", "componentize_py_types", "poll_loop"}


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
    output = args.output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    command = [
        componentize_py(), "-d", str(WIT), "-w", "plugin", "componentize",
        "-p", str(app.parent), "-p", str(SDK), app.stem, "-o", str(output),
    ]
    started = time.monotonic()
    result = subprocess.run(command)
    if result.returncode != 0:
        sys.exit(f"componentize-py failed (exit {result.returncode}) building {args.app}")
    if args.sidecar:
        shutil.copyfile(args.sidecar, output.with_suffix(".yaml"))
    size = output.stat().st_size / 1e6
    print(f"built {output} ({size:.1f} MB) in {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
