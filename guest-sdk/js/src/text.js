// Matching text the way guardrails should, and catching what a stream splits.
//
// `normalize` is the form to compare texts and keywords in, the same in the Rust, Python
// and JavaScript SDKs (all three are tested against guest-sdk/conformance/text.json).
// `HoldBack` keeps the end of a stream's text back so that a word split across chunks is
// still caught before the client sees it. Where the texts of a request or response are is
// the host's business (contract 0.2's `content` resources: `req.texts()`).

import { nfkc } from './nfkc.js';

// Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): invisible characters
// that would split a keyword without showing.
// UTF-16 code units, without the `u` flag, which makes classes several times slower in a
// component: U+1BCA0..U+1BCA3, U+1D173..U+1D17A, U+E0000..U+E0FFF as surrogate pairs.
const IGNORABLE =
  /[\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u200B-\u200F\u202A-\u202E\u2060-\u206F\u3164\uFE00-\uFE0F\uFEFF\uFFA0\uFFF0-\uFFF8]|\uD82F[\uDCA0-\uDCA3]|\uD834[\uDD73-\uDD7A]|[\uDB40-\uDB43][\uDC00-\uDFFF]/g;
// Unicode's White_Space (PropList.txt). Not JavaScript's \s, which differs (U+FEFF, U+180E...).
const WHITE_SPACE = '\\t-\\r \\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';
const OTHER_WHITE_SPACE = '\\t-\\r\\u0085\\u00A0\\u1680\\u2000-\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000';
// A run with anything but one plain space: replacing every single space with a space
// would cost a replacement per word in a component.
const WHITE_SPACE_RUN = new RegExp(`[${WHITE_SPACE}]*[${OTHER_WHITE_SPACE}][${WHITE_SPACE}]*| {2,}`, 'g');
const EDGE_SPACES = /^ | $/g;
// What keeps a text off normalize's shortcut: anything but printable ASCII, or two spaces.
const NOT_PLAIN_ASCII = /[^\x20-\x7E]| {2}/;
const ONE_IGNORABLE = new RegExp(`^(?:${IGNORABLE.source})$`);
const ONE_WHITE_SPACE = new RegExp(`^[${WHITE_SPACE}]$`, 'u');

/** Whether the character `ch` (a one-character string) is a Default_Ignorable_Code_Point. */
export function isDefaultIgnorable(ch) {
  return ONE_IGNORABLE.test(ch);
}

/** Whether the character `ch` (a one-character string) is White_Space. */
export function isWhiteSpace(ch) {
  return ONE_WHITE_SPACE.test(ch);
}

/**
 * The form guardrails match text in, the same in every hookgate SDK:
 *
 * 1. Unicode NFKC (fullwidth `ｓｅｃｒｅｔ` → `secret`, `ﬁ` → `fi`, `²` → `2`), with the
 *    SDK's own tables (nfkc.js): the component's engine has no `String.prototype.normalize`;
 * 2. every Default_Ignorable_Code_Point removed (soft hyphen, zero-width space and joiners,
 *    bidi controls, variation selectors, tag characters, ...), then NFKC again if any
 *    was: an ignorable between a letter and its combining mark would otherwise keep them
 *    apart (`cafe<ZWSP><U+0301>` → `café`);
 * 3. every run of White_Space (tabs, newlines, no-break and ideographic spaces, ...)
 *    replaced by one space, and the ends trimmed;
 * 4. lower-cased with the full Unicode mapping (`toLowerCase`: `ẞ` → `ß`, `İ` → `i̇`),
 *    then Greek final sigma `ς` folded to `σ`: engines disagree on when `Σ` lower-cases to
 *    `ς` (the component's does not do it at all), and a word should match wherever it ends.
 *
 * Look-alikes from other scripts are not folded: Cyrillic `е` stays distinct from Latin
 * `e`. NFKC follows nfkc-data.js's Unicode version; lower-casing, the engine's.
 */
export function normalize(text) {
  text = String(text);
  // NFKC leaves ASCII as it is and no ASCII character is ignorable: printable ASCII with
  // no run of spaces only needs its ends trimmed and lower-casing, without the passes of
  // the general steps' regular expressions over it.
  if (!NOT_PLAIN_ASCII.test(text)) return text.replace(EDGE_SPACES, '').toLowerCase();
  return normalizeAny(text);
}

/** `normalize`'s steps for any text (its ASCII shortcut is tested against this). */
export function normalizeAny(text) {
  text = nfkc(String(text));
  const stripped = text.replace(IGNORABLE, '');
  if (stripped.length !== text.length) text = nfkc(stripped);
  return text.replace(WHITE_SPACE_RUN, ' ').replace(EDGE_SPACES, '').toLowerCase().replaceAll('\u03C2', '\u03C3');
}

/**
 * Holds back the end of a stream's answer text, so that a match split across chunks is
 * caught before any of it reaches the client.
 *
 * A stream filter checks, for each chunk, the text not yet sent (`unsent(chunk)`: what is
 * held plus what the chunk brings), then lets `apply(chunk)` rewrite the chunk so that it
 * carries only what may go out now: everything but the last `window` characters of each
 * choice. The chunk that ends a choice (it has a `finish_reason`) carries the rest.
 * Nothing is lost and nothing unchecked is sent:
 *
 *     const hold = new HoldBack(4);
 *     // chunk 1 brings "the sec": unsent → ["the sec"]; after apply it carries "the"
 *     // chunk 2 brings "ret plan": unsent → [" secret plan"]; after apply it carries " secret "
 *     // the finishing chunk brings nothing: after apply it carries "plan"
 *
 * Characters are code points, as in the Rust SDK.
 */
export class HoldBack {
  /**
   * Holds back the last `window` characters of each choice: one less than the longest
   * text to catch suffices for a plain match; a few more cover what normalization joins
   * (a letter and a combining mark in different chunks).
   */
  constructor(window) {
    if (!Number.isInteger(window) || window < 0) throw new RangeError(`HoldBack: the window is a whole number of characters, got ${window}`);
    this.window = window;
    /** Per choice, the text held back. */
    this.held = [];
  }

  /**
   * Per choice the chunk touches (by index, from 0), the text not yet sent once this
   * chunk is in: what is held plus what the chunk brings. What a check should look at.
   */
  unsent(chunk) {
    const incoming = incomingOf(chunk);
    const choices = Math.max(incoming.length, this.held.length);
    return Array.from({ length: choices }, (_, choice) => (this.held[choice] ?? '') + (incoming[choice] ?? ''));
  }

  /**
   * Takes the chunk's answer text into the window and rewrites the chunk to carry what
   * may be sent now; a choice that ends in this chunk gets everything still held. Throws
   * `EditError` if the host refuses the edit.
   */
  apply(chunk) {
    const incoming = incomingOf(chunk);
    while (this.held.length < incoming.length) this.held.push('');
    for (let choice = 0; choice < this.held.length; choice++) {
      const brought = incoming[choice] ?? '';
      const ends = chunk.finishReason(choice) !== null;
      if (brought === '' && !ends) continue;
      this.held[choice] += brought;
      const released = ends ? this.finish(choice) : this.#release(choice);
      if (released !== brought) chunk.setContent(choice, released);
    }
  }

  /** Everything held for `choice`, released (for a stream that ends without a `finish_reason`). */
  finish(choice) {
    const held = this.held[choice] ?? '';
    if (choice < this.held.length) this.held[choice] = '';
    return held;
  }

  /** What `choice` may send now: all but its last `window` characters. */
  #release(choice) {
    const chars = Array.from(this.held[choice]);
    const cut = keptFrom(chars, this.window);
    this.held[choice] = chars.slice(cut).join('');
    return chars.slice(0, cut).join('');
  }
}

/**
 * Where the last `window` characters of `chars` (code points) start, counted as
 * `normalize` keeps them: a Default_Ignorable_Code_Point counts for nothing and a run of
 * White_Space for one. Counted raw, zero-width characters or a run of spaces between a
 * keyword's letters would push its first letters out of the window before the rest came.
 */
function keptFrom(chars, window) {
  let counted = 0;
  let spaceAfter = false; // whether the counted character to the right was White_Space
  for (let at = chars.length - 1; at >= 0; at--) {
    const c = chars[at];
    if (isDefaultIgnorable(c)) continue;
    const space = isWhiteSpace(c);
    if (!(space && spaceAfter)) {
      if (counted === window) return at + 1;
      counted += 1;
    }
    spaceAfter = space;
  }
  return 0;
}

/** Per choice (by index), the answer text a chunk brings. */
function incomingOf(chunk) {
  const perChoice = [];
  for (const part of chunk.answerTexts()) {
    const choice = part.item ?? 0;
    while (perChoice.length <= choice) perChoice.push('');
    perChoice[choice] += part.text;
  }
  return perChoice;
}
