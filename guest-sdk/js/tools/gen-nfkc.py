#!/usr/bin/env python3
"""Generates guest-sdk/js/src/nfkc-data.js: the Unicode tables src/nfkc.js needs for NFKC.

    python3 guest-sdk/js/tools/gen-nfkc.py            # rewrite src/nfkc-data.js
    python3 guest-sdk/js/tools/gen-nfkc.py --verify   # and check src/nfkc.js against this Python

Why: componentize-js's engine (StarlingMonkey: SpiderMonkey without ICU) has no
``String.prototype.normalize``, so the JavaScript SDK carries its own NFKC. The tables come
from ``unicodedata2`` when it is installed (``pip install unicodedata2``: the latest
Unicode, which the committed file uses) and from the standard ``unicodedata`` otherwise;
the Unicode version is written into the file. The JS SDK then normalizes as CPython does
for every character assigned in that version.

Three tables, as compact strings src/nfkc.js parses once (at build time, in a component):

- ``DECOMPOSITIONS``: every code point whose NFKD differs from itself (Hangul syllables
  excepted: nfkc.js decomposes them arithmetically), with its full NFKD. Runs of code
  points that map one-to-one onto consecutive code points (fullwidth forms, mathematical
  alphanumerics, ...) are stored as one entry.
- ``COMBINING_CLASSES``: runs of code points with the same non-zero canonical combining class.
- ``COMPOSITIONS``: the primary composites (canonical decompositions of two code points
  that NFC recomposes), as (first, second, composite).
- ``UNSTABLE``: runs of the code points NFKC may change or join to what precedes them
  (NFKC_Quick_Check No or Maybe). Text without them, and without two combining marks in a
  row, is in NFKC already: nfkc.js finds the spans that are not with one regular
  expression, and runs the JavaScript algorithm on those alone.

Numbers are base 36; each code point is stored as the distance from the previous entry.

``--verify`` runs node over every code point and 200,000 random strings of letters,
combining marks, jamo and compatibility characters, and compares src/nfkc.js's output
with ``unicodedata.normalize("NFKC", ...)``.
"""

import json
import pathlib
import random
import subprocess
import sys
import tempfile

try:
    import unicodedata2 as unicodedata
except ImportError:
    import unicodedata

JS = pathlib.Path(__file__).resolve().parent.parent
OUT = JS / "src" / "nfkc-data.js"
HANGUL = range(0xAC00, 0xD7A4)
SURROGATES = range(0xD800, 0xE000)


def code_points():
    for cp in range(0x110000):
        if cp not in SURROGATES and cp not in HANGUL:
            yield cp


def b36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def decompositions():
    entries = []  # (cp, [values])
    for cp in code_points():
        nfkd = unicodedata.normalize("NFKD", chr(cp))
        if nfkd != chr(cp):
            entries.append((cp, [ord(c) for c in nfkd]))
    out, previous, i = [], 0, 0
    while i < len(entries):
        cp, values = entries[i]
        run = 1
        if len(values) == 1:
            while (
                i + run < len(entries)
                and entries[i + run][0] == cp + run
                and entries[i + run][1] == [values[0] + run]
            ):
                run += 1
        head = b36(cp - previous) + ("*" + b36(run) if run > 1 else "")
        out.append(head + ":" + ",".join(b36(v) for v in values))
        previous = cp + run - 1
        i += run
    return ";".join(out), len(entries)


def combining_classes():
    runs = []  # [first, last, class]
    for cp in code_points():
        ccc = unicodedata.combining(chr(cp))
        if not ccc:
            continue
        if runs and runs[-1][1] == cp - 1 and runs[-1][2] == ccc:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp, ccc])
    out, previous = [], 0
    for first, last, ccc in runs:
        out.append(f"{b36(first - previous)}:{b36(last - first + 1)}:{b36(ccc)}")
        previous = last
    return ";".join(out)


def compositions():
    out, previous, count, seconds = [], 0, 0, set()
    for cp in code_points():
        mapping = unicodedata.decomposition(chr(cp))
        if not mapping or mapping.startswith("<"):
            continue
        parts = [int(p, 16) for p in mapping.split()]
        # Singletons never recompose; exclusions and non-starter decompositions do not
        # survive NFC: what does is a primary composite.
        if len(parts) == 2 and unicodedata.normalize("NFC", chr(cp)) == chr(cp):
            out.append(f"{b36(cp - previous)}:{b36(parts[0])},{b36(parts[1])}")
            previous, count = cp, count + 1
            seconds.add(parts[1])
    return ";".join(out), count, seconds


def unstable(seconds):
    """Runs of the code points NFKC may change or combine with what precedes them: those
    whose NFKC is not themselves, the second code points of compositions, and the Hangul
    vowel and trailing jamo (which compose into syllables)."""
    points = set(seconds) | set(range(0x1161, 0x1176)) | set(range(0x11A8, 0x11C3))
    points |= {cp for cp in code_points() if unicodedata.normalize("NFKC", chr(cp)) != chr(cp)}
    out, previous, points = [], 0, sorted(points)
    i = 0
    while i < len(points):
        run = 1
        while i + run < len(points) and points[i + run] == points[i] + run:
            run += 1
        out.append(f"{b36(points[i] - previous)}:{b36(run)}")
        previous = points[i] + run - 1
        i += run
    return ";".join(out)


def generate():
    decomposition_table, decomposed = decompositions()
    composition_table, composites, seconds = compositions()
    text = f"""// Generated by guest-sdk/js/tools/gen-nfkc.py from Python {sys.version.split()[0]}'s {unicodedata.__name__}
// (Unicode {unicodedata.unidata_version}): {decomposed} decompositions, {composites} primary composites. Do not edit;
// rerun the generator. Read by nfkc.js; the format is described in the generator.

export const UNICODE_VERSION = {json.dumps(unicodedata.unidata_version)};

export const DECOMPOSITIONS =
  {json.dumps(decomposition_table)};

export const COMBINING_CLASSES =
  {json.dumps(combining_classes())};

export const COMPOSITIONS =
  {json.dumps(composition_table)};

export const UNSTABLE =
  {json.dumps(unstable(seconds))};
"""
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(JS.parent.parent)} ({len(text)} bytes, Unicode {unicodedata.unidata_version})")


def verify():
    rng = random.Random(15)
    pool = [chr(c) for c in range(0x20, 0x250)] + [chr(c) for c in range(0x300, 0x370)]
    pool += [chr(c) for c in range(0x1100, 0x1200)] + [chr(c) for c in range(0xAC00, 0xAC60)]
    pool += [chr(c) for c in range(0x3131, 0x3190)] + [chr(c) for c in range(0x0900, 0x0980)]
    pool += [chr(c) for c in range(0x0B00, 0x0B80)] + [chr(c) for c in range(0x1E00, 0x2000)]
    pool += [chr(c) for c in range(0xFB00, 0xFB50)] + [chr(c) for c in range(0xFF00, 0xFFF0)]
    pool += [chr(c) for c in range(0x1D400, 0x1D440)] + ["\u0345", "\u0344", "\u0f73", "\u0958", "\u2126", "\u212b"]
    cases = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 8))) for _ in range(200_000)]
    cases += [chr(cp) for cp in range(0x110000) if cp not in SURROGATES]
    expected = [unicodedata.normalize("NFKC", case) for case in cases]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as file:
        json.dump({"cases": cases, "expected": expected}, file)
    script = f"""
import {{ readFileSync }} from 'node:fs';
import {{ nfkc }} from {json.dumps((JS / "src" / "nfkc.js").as_uri())};
const {{ cases, expected }} = JSON.parse(readFileSync({json.dumps(file.name)}, 'utf8'));
let failed = 0;
cases.forEach((c, i) => {{
  const got = nfkc(c);
  if (got !== expected[i] && failed++ < 10) console.log('MISMATCH', JSON.stringify(c), JSON.stringify(got), JSON.stringify(expected[i]));
}});
console.log(`${{cases.length - failed}} of ${{cases.length}} agree`);
process.exit(failed ? 1 : 0);
"""
    result = subprocess.run(["node", "--input-type=module", "-e", script])
    pathlib.Path(file.name).unlink()
    sys.exit(result.returncode)


if __name__ == "__main__":
    generate()
    if "--verify" in sys.argv[1:]:
        verify()
