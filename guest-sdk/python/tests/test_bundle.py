"""Unit tests of hookgate_sdk.Bundle in plain CPython, driven by hookgate_sdk.testing as
the host drives a component's hooks.

    python3 -m unittest discover -s guest-sdk/python/tests
"""

import contextlib
import io
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import fake_bindings  # noqa: E402,F401  (installs the fake bindings first)

import hookgate_sdk as sdk  # noqa: E402
from hookgate_sdk import PreCall, Rejection, _export, kv, normalize, testing  # noqa: E402
from hookgate_sdk._export import ConfigRefused, HookFailed  # noqa: E402

BODY = {"model": "m", "messages": [{"role": "user", "content": "mail ann@example.com the secret plan"}]}

ran = []  # (member, hook) in the order hooks ran, across every test's members


class Masker(sdk.Plugin):
    """Masks `ann@example.com` in the request, and counts its requests in kv."""

    name = "masker"

    def __init__(self, config):
        self.mask = (config or {}).get("mask", "[EMAIL]")

    def pre_call(self, ctx, req):
        ran.append(("masker", "pre_call"))
        ctx.count = kv.incr("requests")
        req.map_texts(lambda text: text.replace("ann@example.com", self.mask))

    def stream_chunk(self, ctx, req, chunk):
        ran.append(("masker", "stream_chunk"))
        if "drop me" in chunk.text():
            return sdk.ChunkOutcome.DROP

    def log_success(self, ctx, req, resp, entry):
        ran.append(("masker", "log_success"))
        raise RuntimeError("the log line failed")


class Banned(sdk.Plugin):
    """Refuses the keywords of its config in the (possibly already masked) request."""

    name = "banned"

    def __init__(self, config):
        if not isinstance(config, dict) or not config.get("keywords"):
            raise ValueError("`keywords` is required")
        self.keywords = config["keywords"]

    def new_ctx(self):
        return {"seen": 0}

    def pre_call(self, ctx, req):
        ran.append(("banned", "pre_call"))
        ctx["seen"] += 1
        ctx["texts"] = [str(t) for t in req.texts()]
        if any(keyword in normalize(t) for t in req.texts() for keyword in self.keywords):
            raise Rejection.bad_request("banned", code="banned")
        kv.set("last", "clean")

    def stream_chunk(self, ctx, req, chunk):
        ran.append(("banned", "stream_chunk"))

    def log_success(self, ctx, req, resp, entry):
        ran.append(("banned", "log_success"))


class Broken(sdk.Plugin):
    """Fails every hook, as a member with a bug would (or one an input trips on purpose)."""

    name = "broken"

    def pre_call(self, ctx, req):
        ran.append(("broken", "pre_call"))
        raise KeyError("no such thing")


class Answering(sdk.Plugin):
    name = "answering"

    def pre_call(self, ctx, req):
        ran.append(("answering", "pre_call"))
        return PreCall.respond("from the cache")


class Guardrails(sdk.Bundle):
    name = "guardrails"
    version = "1.0.0"
    members = [("masker", Masker), ("banned", Banned)]


class BrokenFirst(sdk.Bundle):
    members = [("broken", Broken), ("banned", Banned)]


class AnswerAfterBroken(sdk.Bundle):
    members = [("broken", Broken), ("answering", Answering), ("banned", Banned)]


class Bundles(unittest.TestCase):
    def setUp(self):
        ran.clear()
        stderr = contextlib.redirect_stderr(io.StringIO())  # the failing members' tracebacks
        stderr.__enter__()
        self.addCleanup(stderr.__exit__, None, None, None)

    def run_of(self, bundle, config):
        return testing.Runner(bundle, config=config)

    def test_exports_the_hooks_any_member_defines_in_the_contracts_order(self):
        self.assertEqual(_export.Exported(Guardrails).hooks, ["pre_call", "stream_chunk", "log_success"])
        self.assertEqual(_export.Exported(BrokenFirst).hooks, ["pre_call", "stream_chunk", "log_success"])

    def test_each_member_gets_its_own_config_and_a_bad_one_is_refused_naming_it(self):
        run = self.run_of(Guardrails, {"masker": {"mask": "<hidden>"}, "banned": {"keywords": ["forbidden"]}})
        self.assertEqual([name for name, _ in run.plugin.plugins], ["masker", "banned"])
        self.assertEqual(run.plugin.plugins[0][1].mask, "<hidden>")
        with self.assertRaisesRegex(ConfigRefused, r"banned: `keywords` is required"):
            self.run_of(Guardrails, {"masker": {}})
        with self.assertRaisesRegex(ConfigRefused, r"no member named 'bannd'; the members are masker, banned"):
            self.run_of(Guardrails, {"bannd": {"keywords": ["x"]}})
        with self.assertRaisesRegex(ConfigRefused, r"an object of its members' configs"):
            self.run_of(Guardrails, ["masker"])

    def test_members_run_in_order_and_each_sees_the_edits_before_it(self):
        run = self.run_of(Guardrails, {"banned": {"keywords": ["forbidden"]}})
        req = testing.request(BODY)
        self.assertIsNone(run.pre_call(req))
        self.assertEqual(ran, [("masker", "pre_call"), ("banned", "pre_call")])
        self.assertEqual(run.ctx[1]["texts"], ["mail [EMAIL] the secret plan"])
        self.assertEqual(req.texts(), ["mail [EMAIL] the secret plan"])

    def test_a_rejection_ends_the_hook_and_is_the_bundles_answer(self):
        run = self.run_of(Guardrails, {"banned": {"keywords": ["secret plan"]}})
        with self.assertRaises(Rejection) as refused:
            run.pre_call(testing.request(BODY))
        self.assertEqual(refused.exception.code, "banned")

    def test_a_failing_member_never_skips_a_later_members_check(self):
        # Under `on_error: fail_open` a failure is ignored; had it ended the hook, the
        # banned member would never have looked, and the request would go through.
        run = self.run_of(BrokenFirst, {"banned": {"keywords": ["secret plan"]}})
        with self.assertRaises(Rejection):
            run.pre_call(testing.request(BODY))
        self.assertEqual(ran, [("broken", "pre_call"), ("banned", "pre_call")])
        # With nothing to refuse, the failure is the bundle's, named by its member.
        ran.clear()
        run = self.run_of(BrokenFirst, {"banned": {"keywords": ["forbidden"]}})
        with self.assertRaisesRegex(HookFailed, r"^broken: KeyError: 'no such thing'$"):
            run.pre_call(testing.request(BODY))
        self.assertEqual(ran, [("broken", "pre_call"), ("banned", "pre_call")])

    def test_an_answer_ends_pre_call_but_does_not_hide_an_earlier_failure(self):
        run = self.run_of(AnswerAfterBroken, {"banned": {"keywords": ["forbidden"]}})
        with self.assertRaisesRegex(HookFailed, r"^broken: "):
            run.pre_call(testing.request(BODY))
        self.assertEqual(ran, [("broken", "pre_call"), ("answering", "pre_call")])

        class Answers(sdk.Bundle):
            members = [("answering", Answering), ("banned", Banned)]

        ran.clear()
        answered = self.run_of(Answers, {"banned": {"keywords": ["secret plan"]}}).pre_call(testing.request(BODY))
        self.assertEqual(answered.text, "from the cache")
        self.assertEqual(ran, [("answering", "pre_call")])

    def test_a_dropped_chunk_ends_the_hook(self):
        run = self.run_of(Guardrails, {"banned": {"keywords": ["x"]}})
        req = testing.request(dict(BODY, stream=True))
        keep = testing.chunk({"choices": [{"index": 0, "delta": {"content": "keep me"}}]})
        drop = testing.chunk({"choices": [{"index": 0, "delta": {"content": "drop me"}}]})
        self.assertIs(run.stream_chunk(req, keep), sdk.ChunkOutcome.PROCEED)
        self.assertIs(run.stream_chunk(req, drop), sdk.ChunkOutcome.DROP)
        self.assertEqual(ran, [("masker", "stream_chunk"), ("banned", "stream_chunk"), ("masker", "stream_chunk")])

    def test_each_member_has_its_own_ctx_made_afresh_for_each_request(self):
        run = self.run_of(Guardrails, {"banned": {"keywords": ["forbidden"]}})
        run.pre_call(testing.request(BODY, id="one"))
        first = run.ctx
        self.assertEqual(first[1]["seen"], 1)
        self.assertEqual(first[0].count, 1)
        run.pre_call(testing.request(BODY, id="two"))
        self.assertIsNot(run.ctx, first)
        self.assertEqual(run.ctx[1]["seen"], 1)

    def test_each_members_kv_keys_are_its_own(self):
        class TwoCounters(sdk.Bundle):
            members = [("first", Masker), ("second", Masker), ("banned", Banned)]

        run = self.run_of(TwoCounters, {"banned": {"keywords": ["forbidden"]}})
        run.pre_call(testing.request(BODY, id="one"))
        run.pre_call(testing.request(BODY, id="two"))
        self.assertEqual(run.host.store, {"first/requests": "2", "second/requests": "2", "banned/last": "clean"})
        self.assertEqual(run.ctx[0].count, 2)
        # Outside a member's hook, keys are the plugin's own again.
        self.assertEqual(kv.incr("requests"), 1)
        self.assertIn("requests", run.host.store)

    def test_a_failing_logging_member_does_not_stop_the_others(self):
        run = self.run_of(Guardrails, {"banned": {"keywords": ["forbidden"]}})
        req = testing.request(BODY)
        resp = testing.response({"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]})
        with self.assertRaisesRegex(HookFailed, r"^masker: RuntimeError: the log line failed$"):
            run.log_success(req, resp, testing.log_entry())
        self.assertEqual(ran, [("masker", "log_success"), ("banned", "log_success")])

    def test_members_are_checked_when_the_bundle_is_defined(self):
        with self.assertRaisesRegex(TypeError, "a name appears twice"):
            type("Twice", (sdk.Bundle,), {"members": [("a", Masker), ("a", Banned)]})
        with self.assertRaisesRegex(TypeError, "is not a Plugin subclass"):
            type("NotAPlugin", (sdk.Bundle,), {"members": [("a", object)]})
        with self.assertRaisesRegex(TypeError, "nor a Bundle"):
            type("Nested", (sdk.Bundle,), {"members": [("a", Guardrails)]})
        with self.assertRaisesRegex(TypeError, "not a member name"):
            type("Slashed", (sdk.Bundle,), {"members": [("a/b", Masker)]})

    def test_a_member_module_may_export_its_own_class_beside_the_bundle(self):
        saved = list(_export._exported)
        self.addCleanup(lambda: _export._exported.__setitem__(slice(None), saved))
        _export._exported.clear()
        sdk.export(Masker)
        sdk.export(Banned)
        sdk.export(Guardrails)
        self.assertIs(_export.registered().plugin_class, Guardrails)
        # A class that is not a member is still a second plugin in one component.
        _export._exported.clear()
        sdk.export(Answering)
        sdk.export(Guardrails)
        with self.assertRaisesRegex(RuntimeError, "several plugin classes"):
            _export.registered()


if __name__ == "__main__":
    unittest.main()
