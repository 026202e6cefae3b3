"""build.py without componentize-py: which hooks it finds in a plugin's source (without
running it), the world it writes, and the entry module componentize-py builds.

    python3 -m unittest discover -s guest-sdk/python/tests
"""

import importlib.util
import pathlib
import re
import sys
import tempfile
import textwrap
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

_spec = importlib.util.spec_from_file_location("hookgate_build", HERE.parent / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


class FindHooks(unittest.TestCase):
    def setUp(self):
        temp = tempfile.TemporaryDirectory(prefix="hookgate-build-test-")
        self.addCleanup(temp.cleanup)
        self.folder = pathlib.Path(temp.name)

    def write(self, name, source):
        path = self.folder / name
        path.write_text(textwrap.dedent(source), encoding="utf-8")
        return path

    def hooks(self, source, **others):
        for name, text in others.items():
            self.write(f"{name}.py", text)
        return build.find_hooks(self.write("app.py", source))

    def test_the_hooks_the_exported_class_defines_in_contract_order(self):
        source = """
            from hookgate_sdk import Plugin, export

            class Helper:
                def pre_call(self): pass

            class P(Plugin):
                def stream_end(self, ctx, req, text): pass
                def pre_call(self, ctx, req): pass
                def not_a_hook(self): pass
                log_failure = None

            WitWorld = export(P)
        """
        self.assertEqual(self.hooks(source), ("P", ["pre_call", "stream_end", "log_failure"]))

    def test_base_classes_in_the_module_and_beside_it(self):
        source = """
            import hookgate_sdk
            from shared import Base

            class Middle(Base):
                async def moderation(self, ctx, req): pass

            class P(Middle):
                def post_call_success(self, ctx, req, resp): pass

            hookgate_sdk.export(P)
        """
        shared = """
            from hookgate_sdk import Plugin as Root

            class Base(Root):
                def log_success(self, ctx, req, resp, entry): pass
        """
        self.assertEqual(self.hooks(source, shared=shared), ("P", ["moderation", "post_call_success", "log_success"]))

    def test_a_plugin_with_no_hooks_exports_setup_only(self):
        source = """
            from hookgate_sdk import Plugin, export
            class P(Plugin):
                name = "quiet"
            export(P)
        """
        self.assertEqual(self.hooks(source), ("P", []))
        self.assertNotIn("export pre-call", build.world([]))

    def test_what_it_cannot_see_is_an_error(self):
        cases = {
            "no `export(MyPlugin)` call": "from hookgate_sdk import Plugin\nclass P(Plugin): pass\n",
            "called 2 times": "from hookgate_sdk import Plugin, export\nclass P(Plugin): pass\nexport(P)\nexport(P)\n",
            "by its name": "from hookgate_sdk import Plugin, export\nclass P(Plugin): pass\nexport(make())\n",
            "cannot see class `Mixin`": "from hookgate_sdk import Plugin, export\nfrom elsewhere import Mixin\nclass P(Mixin): pass\nexport(P)\n",
            "not Plugin or Bundle itself": "from hookgate_sdk import Plugin, export\nexport(Plugin)\n",
        }
        for message, source in cases.items():
            with self.subTest(message), self.assertRaisesRegex(build.BuildError, re.escape(message)):
                self.hooks(source)

    def test_a_bundle_exports_the_hooks_of_its_members(self):
        source = """
            import hookgate_sdk
            from hookgate_sdk import Bundle, Plugin, export
            from masker import Masker

            class Logger(Plugin):
                def log_success(self, ctx, req, resp, entry): pass

            class Guardrails(Bundle):
                name = "guardrails"
                members = [("masker", Masker), ("logger", Logger)]

            class Same(hookgate_sdk.Bundle):
                members = (("logger", Logger),)

            WitWorld = export(Guardrails)
        """
        masker = """
            from hookgate_sdk import Plugin, export

            class Masker(Plugin):
                def stream_chunk(self, ctx, req, chunk): pass
                def pre_call(self, ctx, req): pass

            WitWorld = export(Masker)
        """
        self.assertEqual(
            self.hooks(source, masker=masker), ("Guardrails", ["pre_call", "stream_chunk", "log_success"])
        )
        self.assertEqual(self.hooks(source.replace("export(Guardrails)", "export(Same)")), ("Same", ["log_success"]))

    def test_a_bundle_it_cannot_read_is_an_error(self):
        head = "from hookgate_sdk import Bundle, Plugin, export\nclass M(Plugin):\n    def pre_call(self, ctx, req): pass\n"
        cases = {
            "sets `members` once": "class B(Bundle):\n    members = make()\n",
            "a pair (\"name\", MemberClass)": "class B(Bundle):\n    members = [M]\n",
            "not Plugin or Bundle itself)": "class B(Bundle):\n    members = [(\"p\", Plugin)]\n",
        }
        for message, body in cases.items():
            with self.subTest(message), self.assertRaisesRegex(build.BuildError, re.escape(message)):
                self.hooks(head + body + "export(B)\n")

    def test_the_world_exports_setup_and_the_hooks_in_the_contract_s_package(self):
        world = build.world(["pre_call", "stream_chunk"])
        self.assertIn("world hookgate-export {\n    include imports;\n    export setup;\n    export pre-call;\n    export stream-chunk;\n}", world)
        wit = build.WIT.read_text(encoding="utf-8")
        self.assertIn("package hookgate:plugin@0.2.0;", wit)
        self.assertIn("world imports {", wit)

    def test_the_entry_module_names_the_classes_componentize_py_looks_for(self):
        entry = build.entry(pathlib.Path("/x/app.py"), "P", ["pre_call", "post_call_success", "log_failure"])
        self.assertIn("importlib.import_module('app')", entry)
        self.assertIn("Setup, PreCall, PostCallSuccess, LogFailure = exports(['pre_call', 'post_call_success', 'log_failure'])", entry)
        compile(entry, "entry", "exec")


if __name__ == "__main__":
    unittest.main()
