// Unicode NFKC without ICU.
//
// componentize-js's engine (StarlingMonkey, SpiderMonkey built without ICU) has no
// String.prototype.normalize, so the SDK normalizes with its own tables: nfkc-data.js,
// generated from CPython's unicodedata by tools/gen-nfkc.py (which can also check this
// file against CPython over every code point and 200,000 random strings). The algorithm
// is UAX #15's: full compatibility decomposition (Hangul syllables arithmetically),
// canonical ordering of combining marks, canonical composition. The tables are parsed
// once at module load (in a component: at build time, into the snapshot).

import { COMBINING_CLASSES, COMPOSITIONS, DECOMPOSITIONS, UNICODE_VERSION, UNSTABLE } from './nfkc-data.js';

export { UNICODE_VERSION };

const S_BASE = 0xac00;
const L_BASE = 0x1100;
const V_BASE = 0x1161;
const T_BASE = 0x11a7;
const L_COUNT = 19;
const V_COUNT = 21;
const T_COUNT = 28;
const N_COUNT = V_COUNT * T_COUNT;
const S_COUNT = L_COUNT * N_COUNT;

// The tables, parsed by a scanner that allocates nothing per entry: a component snapshots
// its heap after initialization, garbage included, and split()ting the tables into
// thousands of small strings and arrays made every JS component a megabyte bigger.

/** code point → (offset << 6) | (length << 1) | unstable, for those whose NFKD is not
 * themselves: where their NFKD is in `DECOMPOSITION`, and whether NFKC changes them. */
const decomposed = new Map();
/** The other code points NFKC may join to what precedes them (U+0301, Hangul jamo, ...). */
const joiners = new Set();
let DECOMPOSITION;
/** code point → canonical combining class, for those that are not 0. */
const combiningClasses = new Map();
/** first * 0x110000 + second → primary composite. */
const compositions = new Map();
/** [first, last] runs: the code points with a combining class, the unstable ones. */
const markRuns = [];
const unstableRuns = [];

{
  let text = '';
  let at = 0;
  // The base-36 number at `at`; leaves `at` on the separator after it.
  const number = () => {
    let value = 0;
    for (;;) {
      const c = text.charCodeAt(at);
      if (c >= 48 && c <= 57) value = value * 36 + (c - 48);
      else if (c >= 97 && c <= 122) value = value * 36 + (c - 87);
      else return value;
      at++;
    }
  };
  const values = [];
  text = DECOMPOSITIONS;
  let previous = 0;
  while (at < text.length) {
    const first = previous + number();
    let run = 1;
    if (text.charCodeAt(at) === 42 /* * */) {
      at++;
      run = number();
    }
    at++; // :
    const start = values.length;
    values.push(number());
    while (text.charCodeAt(at) === 44 /* , */) {
      at++;
      values.push(number());
    }
    at++; // ; or the end
    if (run === 1) decomposed.set(first, (start << 6) | ((values.length - start) << 1));
    else {
      const base = values.pop();
      for (let i = 0; i < run; i++) {
        decomposed.set(first + i, (values.length << 6) | (1 << 1));
        values.push(base + i);
      }
    }
    previous = first + run - 1;
  }
  DECOMPOSITION = Uint32Array.from(values);

  text = COMBINING_CLASSES;
  at = 0;
  previous = 0;
  while (at < text.length) {
    const first = previous + number();
    at++;
    const length = number();
    at++;
    const ccc = number();
    at++;
    for (let i = 0; i < length; i++) combiningClasses.set(first + i, ccc);
    markRuns.push([first, first + length - 1]);
    previous = first + length - 1;
  }

  text = UNSTABLE;
  at = 0;
  previous = 0;
  while (at < text.length) {
    const first = previous + number();
    at++;
    const length = number();
    at++;
    unstableRuns.push([first, first + length - 1]);
    for (let cp = first; cp < first + length; cp++) {
      const entry = decomposed.get(cp);
      if (entry === undefined) joiners.add(cp);
      else decomposed.set(cp, entry | 1);
    }
    previous = first + length - 1;
  }

  text = COMPOSITIONS;
  at = 0;
  previous = 0;
  while (at < text.length) {
    const composite = previous + number();
    at++;
    const a = number();
    at++;
    const b = number();
    at++;
    compositions.set(a * 0x110000 + b, composite);
    previous = composite;
  }
}

const combiningClass = (cp) => (cp < 0x300 ? 0 : combiningClasses.get(cp) ?? 0);
const unstable = (cp) => ((decomposed.get(cp) ?? 0) & 1) === 1 || joiners.has(cp);

function compose(first, second) {
  if (first >= L_BASE && first < L_BASE + L_COUNT && second >= V_BASE && second < V_BASE + V_COUNT) {
    return S_BASE + ((first - L_BASE) * V_COUNT + (second - V_BASE)) * T_COUNT;
  }
  if (
    first >= S_BASE && first < S_BASE + S_COUNT && (first - S_BASE) % T_COUNT === 0 &&
    second > T_BASE && second < T_BASE + T_COUNT
  ) {
    return first + (second - T_BASE);
  }
  return compositions.get(first * 0x110000 + second);
}

/** The code point of `text` at `at` (surrogate pairs joined; a lone one as it is). */
function codePointAt(text, at) {
  const unit = text.charCodeAt(at);
  if (unit >= 0xd800 && unit <= 0xdbff && at + 1 < text.length) {
    const low = text.charCodeAt(at + 1);
    if (low >= 0xdc00 && low <= 0xdfff) return 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
  }
  return unit;
}

/** The full compatibility decomposition of `text[start..end)`, canonically ordered. */
function decompose(text, start, end) {
  const out = [];
  for (let at = start; at < end; ) {
    const cp = codePointAt(text, at);
    at += cp > 0xffff ? 2 : 1;
    if (cp >= S_BASE && cp < S_BASE + S_COUNT) {
      const s = cp - S_BASE;
      out.push(L_BASE + Math.floor(s / N_COUNT), V_BASE + Math.floor((s % N_COUNT) / T_COUNT));
      if (s % T_COUNT) out.push(T_BASE + (s % T_COUNT));
    } else {
      const entry = cp < 0xa0 ? undefined : decomposed.get(cp);
      if (entry === undefined) out.push(cp);
      else for (let i = entry >> 6, last = i + ((entry >> 1) & 31); i < last; i++) out.push(DECOMPOSITION[i]);
    }
  }
  // Canonical ordering: a stable sort by class of every run of non-starters.
  for (let i = 1; i < out.length; i++) {
    const ccc = combiningClass(out[i]);
    if (ccc === 0) continue;
    let j = i;
    while (j > 0 && combiningClass(out[j - 1]) > ccc) {
      [out[j - 1], out[j]] = [out[j], out[j - 1]];
      j--;
    }
  }
  return out;
}

// Canonical composition (UAX #15's reference algorithm, in place).
function recompose(cps) {
  if (cps.length === 0) return cps;
  let starter = 0;
  let lastClass = combiningClass(cps[0]) === 0 ? 0 : 256; // a leading mark has no starter
  let written = 1;
  for (let i = 1; i < cps.length; i++) {
    const cp = cps[i];
    const ccc = combiningClass(cp);
    const composite = lastClass < ccc || lastClass === 0 ? compose(cps[starter], cp) : undefined;
    if (composite !== undefined) {
      cps[starter] = composite;
      continue;
    }
    if (ccc === 0) starter = written;
    lastClass = ccc;
    cps[written++] = cp;
  }
  cps.length = written;
  return cps;
}

const ASCII = /^[\x00-\x7f]*$/;

function fromCodePoints(cps) {
  let text = '';
  for (let i = 0; i < cps.length; i += 4096) text += String.fromCodePoint(...cps.slice(i, i + 4096));
  return text;
}


// NFKC only changes text around "suspect" characters: unstable code points (NFKC maps
// them, or they may compose with what precedes them), two combining marks in a row (which
// may need reordering), and characters outside the BMP from blocks that have either. Text
// without them is in NFKC already. SUSPECT finds them with one regular expression, which
// costs a few hundred fuel per character in a component; a JavaScript loop over every
// character would cost thousands (the engine interprets). Each suspect's segment, from the
// starter before it to the end of its run of marks and unstable code points, then goes
// through the JavaScript algorithm. The expressions work on UTF-16 code units: the `u`
// flag makes big classes several times slower.

const hex = (unit) => `\\u${unit.toString(16).padStart(4, '0')}`;
const units = (first, last) => (first === last ? hex(first) : `${hex(first)}-${hex(last)}`);
const lowSurrogate = (cp) => 0xdc00 + ((cp - 0x10000) & 0x3ff);

/** `runs` as a class of BMP code units, and their astral code points by high surrogate. */
function split(runs) {
  let bmp = '';
  const astral = new Map(); // high surrogate → a class of low surrogates
  for (const [first, last] of runs) {
    if (first <= 0xffff) bmp += units(first, Math.min(last, 0xffff));
    for (let cp = Math.max(first, 0x10000); cp <= last; ) {
      const high = 0xd800 + ((cp - 0x10000) >> 10);
      const end = Math.min(last, 0x10000 + ((high - 0xd800 + 1) << 10) - 1);
      astral.set(high, (astral.get(high) ?? '') + units(lowSurrogate(cp), lowSurrogate(end)));
      cp = end + 1;
    }
  }
  return { bmp, astral };
}

const marks = split(markRuns);
const unstables = split(unstableRuns);
// Astral code points are matched by their high surrogate alone (the segment's own loop
// decides): precise pairs would cost an alternative per block at every position.
const suspectHighs = [...new Set([...marks.astral.keys(), ...unstables.astral.keys()])].map(hex).join('');
const SUSPECT = new RegExp(`[${unstables.bmp}${suspectHighs}]|[${marks.bmp}]{2}`, 'g');

/** Where the code point of `text` that ends at `end` (exclusive) starts. */
function previousStart(text, end) {
  const low = text.charCodeAt(end - 1);
  if (end >= 2 && low >= 0xdc00 && low <= 0xdfff) {
    const high = text.charCodeAt(end - 2);
    if (high >= 0xd800 && high <= 0xdbff) return end - 2;
  }
  return end - 1;
}

/** `text` in Unicode Normalization Form KC (what `text.normalize('NFKC')` gives with ICU). */
export function nfkc(text) {
  if (ASCII.test(text)) return text;
  SUSPECT.lastIndex = 0;
  let found = SUSPECT.exec(text);
  if (found === null) return text;
  let out = '';
  let done = 0;
  while (found !== null) {
    const cp = codePointAt(text, found.index);
    let end = found.index + (cp > 0xffff ? 2 : 1);
    if (cp > 0xffff && combiningClass(cp) === 0 && !unstable(cp)) {
      // An astral character the high surrogate alone made a suspect (an emoji): stable.
      SUSPECT.lastIndex = end;
      found = SUSPECT.exec(text);
      continue;
    }
    // Back to the starter before the suspect (over combining marks), not before `done`.
    let start = found.index;
    while (start > done) {
      start = previousStart(text, start);
      if (combiningClass(codePointAt(text, start)) === 0) break;
    }
    // On over the run of combining marks and unstable code points.
    while (end < text.length) {
      const cp = codePointAt(text, end);
      if (combiningClass(cp) === 0 && !unstable(cp)) break;
      end += cp > 0xffff ? 2 : 1;
    }
    out += text.slice(done, start) + fromCodePoints(recompose(decompose(text, start, end)));
    done = end;
    SUSPECT.lastIndex = end;
    found = SUSPECT.exec(text);
  }
  return out + text.slice(done);
}
