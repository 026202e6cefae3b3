"""The shared vectors, guest-sdk/conformance/text.json: ``normalize`` and the character
predicates (which run in components), and the local stand-ins' texts and edits (which
plugin unit tests run on) against the places and order the host finds texts in.

    python3 -m unittest discover -s guest-sdk/python/tests
"""

import json
import pathlib
import random
import sys
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from hookgate_sdk import Text, is_default_ignorable, is_white_space, normalize, testing  # noqa: E402
from hookgate_sdk.text import _normalize_any  # noqa: E402

VECTORS = json.loads((HERE.parent.parent / "conformance" / "text.json").read_text(encoding="utf-8"))


def edit_function(edit):
    if "wrap" in edit:
        before, after = edit["wrap"]
        return lambda text: before + text + after
    old, new = edit["replace"]
    return lambda text: text.replace(old, new)


def resolve(body, path):
    for token in path.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        body = body[int(token)] if isinstance(body, list) else body[token]
    return body


class HoldBackVectors(unittest.TestCase):
    def test_hold_back(self):
        from hookgate_sdk import HoldBack

        for case in VECTORS["hold_back"]:
            with self.subTest(case["name"]):
                hold = HoldBack(case["window"])
                chunk = testing.chunk({"choices": [{"index": 0, "delta": {"content": case["text"]}}]})
                hold.apply(chunk)
                sent = chunk.text() or ""
                self.assertEqual(hold.finish(0), case["kept"])
                self.assertEqual(sent + case["kept"], case["text"], "nothing lost")


class Texts(unittest.TestCase):
    def test_request_texts(self):
        for case in VECTORS["request"]:
            with self.subTest(case["name"]):
                self.assertEqual(testing.request(case["body"]).texts(), case["texts"])

    def test_response_texts(self):
        for case in VECTORS["response"]:
            with self.subTest(case["name"]):
                self.assertEqual(testing.response(case["body"]).texts(), case["texts"])

    def test_chunk_texts_and_text(self):
        for case in VECTORS["chunk"]:
            with self.subTest(case["name"]):
                chunk = testing.chunk(case["chunk"])
                self.assertEqual(chunk.texts(), case["texts"])
                self.assertEqual(chunk.text(), case["delta_text"])

    def test_every_path_points_at_its_text(self):
        for case in VECTORS["request"]:
            with self.subTest(case["name"]):
                for text in testing.request(case["body"]).texts():
                    self.assertIsInstance(text, Text)
                    if text.is_key:
                        token = text.path.rsplit("/", 1)[1].replace("~1", "/").replace("~0", "~")
                        self.assertEqual(token, text)
                        self.assertIsNotNone(resolve(case["body"], text.path))
                    else:
                        self.assertEqual(resolve(case["body"], text.path), text)

    def test_message_texts_carry_their_message_and_role(self):
        req = testing.request({"model": "m", "messages": [
            {"role": "system", "content": "rules"},
            {"role": "user", "name": "ann", "content": [{"type": "text", "text": "hi"}]},
        ], "tools": [{"type": "function", "function": {"name": "f"}}]})  # fmt: skip
        self.assertEqual([(t.item, t.role, t.text, t.path) for t in req.texts()], [
            (0, "system", "rules", "/messages/0/content"),
            (1, "user", "ann", "/messages/1/name"),
            (1, "user", "hi", "/messages/1/content/0/text"),
            (None, None, "f", "/tools/0/function/name"),
        ])  # fmt: skip
        resp = testing.response({"choices": [{"index": 0, "message": {"content": "a"}}, {"index": 1, "text": "b"}]})
        self.assertEqual([(t.item, t.role, t.path) for t in resp.texts()], [
            (0, "assistant", "/choices/0/message/content"), (1, "assistant", "/choices/1/text"),
        ])  # fmt: skip

    def test_map_texts(self):
        for case in VECTORS["map_texts"]:
            with self.subTest(case["name"]):
                req = testing.request(case["body"])
                changed = req.map_texts(edit_function(case["edit"]))
                self.assertEqual(changed, case["result"] is not None)
                self.assertEqual(req.json(), case["result"] if changed else case["body"])

    def test_map_texts_visits_exactly_the_texts_in_order(self):
        for case in VECTORS["request"]:
            with self.subTest(case["name"]):
                req = testing.request(case["body"])
                seen = []
                req.map_texts(lambda text: seen.append(text) or text)
                self.assertEqual(seen, req.texts())
                self.assertEqual(req.json(), case["body"])


class Normalize(unittest.TestCase):
    def test_normalize(self):
        for case in VECTORS["normalize"]:
            with self.subTest(case["name"]):
                self.assertEqual(normalize(case["input"]), case["output"])
                self.assertEqual(normalize(case["output"]), case["output"], "the output is its own normal form")

    def test_the_ascii_shortcut_is_the_general_path(self):
        # 50,000 pseudo-random ASCII strings, most of them letters and spaces (as prose
        # is), every ASCII character among them many times.
        rng = random.Random(7)
        alphabet = [chr(c) for c in range(128)] + [" "] * 40 + list("AZaz.") * 8
        for _ in range(50_000):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
            self.assertEqual(normalize(text), _normalize_any(text), repr(text))

    def test_character_classes(self):
        for ch in VECTORS["white_space"]["yes"]:
            self.assertTrue(is_white_space(ch), repr(ch))
        for ch in VECTORS["white_space"]["no"]:
            self.assertFalse(is_white_space(ch), repr(ch))
        for ch in VECTORS["default_ignorable"]["yes"]:
            self.assertTrue(is_default_ignorable(ch), repr(ch))
        for ch in VECTORS["default_ignorable"]["no"]:
            self.assertFalse(is_default_ignorable(ch), repr(ch))


if __name__ == "__main__":
    unittest.main()
