// pii-redactor: masks e-mail addresses and phone numbers before they reach the model, and
// in what the model sends back (a JavaScript port of plugins/pii-redactor/app.py, with
// the same config, patterns and streaming behaviour).
//
// Config (all optional):
//
//   {"mask_email": "[EMAIL]", "mask_phone": "[PHONE]", "responses": true}
//
// The masks are read as Python's `re.sub` reads a replacement (`\g<0>` is the match, `\\`
// a backslash); a mask app.py would fail every masking hook on refuses the plugin at load
// here instead, as in the Rust port (bench/plugins/pii-redactor-rs). The config is read as
// app.py reads it: any falsy value (Python's truth) is no config, masks are `str()`ed.
//
// - `preCall` masks every text of the request the model reads (`req.mapTexts`: message
//   contents and names, tool call arguments, tool and schema descriptions, prompts, ...);
//   the host rewrites the request only when something was masked.
// - `postCallSuccess` masks every text of a non-streamed response (`resp.mapTexts`),
//   unless `responses` is false.
// - `streamChunk` masks the streamed answer. A match can span chunks, so the last `HOLD`
//   characters of each choice are held back (`HoldBack`) and sent with a later chunk: an
//   address or number is seen whole, and masked, before any of it is sent. The chunk with
//   `finish_reason` sends everything still held. A mask is sent where its match starts;
//   the rest of the match, if it was still held, is sent as nothing. (An address longer
//   than `HOLD` characters can be sent in part before it is recognised.)
//
// One difference no port to this engine can remove: it has no Unicode property escapes,
// so `\d` and `\w` are ASCII here where Python's are Unicode. Numbers in other scripts'
// digits are not masked, and a number right after a non-ASCII letter is.
//
// Build: node guest-sdk/js/build.mjs bench/plugins-js/pii-redactor-js/plugin.js -o pii_redactor_js.wasm

import { HoldBack, Plugin } from 'hookgate-sdk';

const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}/g;
// International or North American numbers: +44 20 7946 0958, (555) 123-4567, 555.123.4567.
const PHONE = /(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,4}\)[ .-]?|\d{2,4}[ .-])\d{3,4}[ .-]?\d{3,4}(?!\w)/g;
// What every PHONE match holds (the same `\d`).
const DIGIT = /\d/;
// Characters of each streamed choice held back: longer than any phone number and nearly
// every e-mail address (64 is the longest local part RFC 5321 allows).
const HOLD = 64;
const FIELDS = ['mask_email', 'mask_phone', 'responses'];

/** Python's `bool()` of a JSON value. */
const truthy = (value) =>
  Array.isArray(value) ? value.length > 0 : value !== null && typeof value === 'object' ? Object.keys(value).length > 0 : Boolean(value);

/** Python's `str()` of a JSON scalar; a list or an object is refused rather than masked with its repr. */
function pythonStr(name, value) {
  if (typeof value === 'string') return value;
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  throw new Error(`invalid config: \`${name}\` must be a string`);
}

const ESCAPES = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
// A replacement's pieces: plain text, or `\` and what it escapes (`g<name>`; `g` without
// a well-formed name; `0` and up to two octal digits; three octal digits; a group number;
// one character; nothing, at the end).
const PIECE = /\\(?:(g<([^>]*)>|g|0[0-7]{0,2}|[1-7][0-7]{2}|[1-9][0-9]?|[\s\S]))?|[^\\]+/g;

/**
 * A replacement as Python's `re.sub` reads it, as a function of the matched text: `\n`-style
 * escapes, `\\`, octal escapes, and `\g<0>` for the match. EMAIL and PHONE have no groups,
 * so any other group reference is an error, as are `\` plus an unknown ASCII letter and a
 * trailing `\`; other escapes (`\[`) stay as written.
 */
function template(name, source) {
  const refuse = (why) => new Error(`invalid config: \`${name}\` ${JSON.stringify(source)}: ${why}`);
  const pieces = []; // text, with null where the match goes
  let text = '';
  for (const match of source.matchAll(PIECE)) {
    const [piece, escape, group] = match;
    if (piece[0] !== '\\') {
      text += piece;
    } else if (escape === undefined) {
      throw refuse('bad escape (end of pattern)');
    } else if (group !== undefined) {
      if (group === '') throw refuse('missing group name');
      if (!/^[0-9]+$/.test(group) || Number(group) !== 0) throw refuse(`invalid group reference ${group}`);
      pieces.push(text, null);
      text = '';
    } else if (escape === 'g') {
      throw refuse(source[match.index + 2] === '<' ? 'missing >, unterminated name' : 'missing <');
    } else if (escape[0] === '0' || /^[0-9]{3}$/.test(escape)) {
      const value = parseInt(escape, 8);
      if (value > 0o377) throw refuse(`octal escape value \\${escape} outside of range 0-0o377`);
      text += String.fromCharCode(value);
    } else if (/^[0-9]/.test(escape)) {
      throw refuse(`invalid group reference ${escape}`);
    } else if (Object.hasOwn(ESCAPES, escape)) {
      text += ESCAPES[escape];
    } else if (/^[A-Za-z]$/.test(escape)) {
      throw refuse(`bad escape \\${escape}`);
    } else {
      text += piece;
    }
  }
  pieces.push(text);
  return (matched) => pieces.map((piece) => piece ?? matched).join('');
}

/** Every match of the global `pattern` in `text` from `from` on, as `finditer(text, from)`. */
function* matches(pattern, text, from) {
  pattern.lastIndex = from;
  for (let match; (match = pattern.exec(text)) !== null; ) yield match;
}

export default class PiiRedactor extends Plugin {
  static name = 'pii-redactor';
  static version = '0.2.0';

  // Runs at load too: a bad config refuses the plugin.
  constructor(config) {
    super(config);
    const settings = truthy(config) ? config : {};
    if (typeof settings !== 'object' || Array.isArray(settings)) throw new Error('invalid config: the config must be an object');
    const unknown = Object.keys(settings).filter((field) => !FIELDS.includes(field));
    if (unknown.length) throw new Error(`invalid config: unknown field(s): ${unknown.sort().join(', ')}`);
    const mask = (name, fallback) => template(name, name in settings ? pythonStr(name, settings[name]) : fallback);
    this.maskEmail = mask('mask_email', '[EMAIL]');
    this.maskPhone = mask('mask_phone', '[PHONE]');
    this.responses = 'responses' in settings ? truthy(settings.responses) : true;
  }

  newCtx() {
    // One stream's state: the held-back text, and per choice how many held characters
    // belong to a match whose mask was sent already, and the character before them.
    return { hold: new HoldBack(HOLD), pending: [], before: [] };
  }

  mask(text) {
    // Each pattern is tried at every position of the text; a text without an `@` or without
    // a digit (most prompts and answers) cannot hold a match, and one search says so.
    if (text.includes('@')) text = text.replace(EMAIL, this.maskEmail);
    if (DIGIT.test(text)) text = text.replace(PHONE, this.maskPhone);
    return text;
  }

  preCall(ctx, req) {
    req.mapTexts((text) => this.mask(text));
  }

  postCallSuccess(ctx, req, resp) {
    if (this.responses) resp.mapTexts((text) => this.mask(text));
  }

  streamChunk(ctx, req, chunk) {
    const unsent = ctx.hold.unsent(chunk);
    ctx.hold.apply(chunk); // the chunk now carries what may be sent: a prefix of unsent
    const released = unsent.map(() => '');
    for (const part of chunk.answerTexts()) {
      if (part.item !== null && part.item < released.length) released[part.item] += part.text;
    }
    unsent.forEach((text, choice) => {
      if (released[choice]) {
        const masked = this.release(ctx, choice, text, released[choice].length);
        if (masked !== released[choice]) chunk.setContent(choice, masked);
      }
    });
  }

  /**
   * What to send of the first `count` characters of `unsent` (choice `choice`'s text not
   * yet sent, with the `HOLD` characters after them): that text with every match starting
   * in it masked, as `mask` would mask the whole answer. Positions are UTF-16 units
   * throughout, where app.py's are code points: the same characters either way.
   */
  release(ctx, choice, unsent, count) {
    while (ctx.pending.length <= choice) {
      ctx.pending.push(0);
      ctx.before.push('');
    }
    // `before`: the character before `unsent`, as `mask` sees it after masking e-mail
    // addresses (for the phone pattern's look-behind); `at`: characters of a match whose
    // mask was sent already.
    const before = ctx.before[choice];
    let at = ctx.pending[choice];
    // As `mask` does: e-mail addresses first, then numbers in the text with the addresses
    // masked. `masked` is that text; `origin` says which character of `unsent` each of its
    // characters is (null: `before` or a mask); `start` where in `masked` each position of
    // `unsent` outside an address is.
    let masked = before;
    const origin = Array(before.length).fill(null);
    const start = new Map();
    const spans = [];
    let position = at;
    const keep = (until) => {
      for (let offset = 0; offset <= until - position; offset++) start.set(position + offset, masked.length + offset);
      masked += unsent.slice(position, until);
      for (let index = position; index < until; index++) origin.push(index);
    };
    for (const match of matches(EMAIL, unsent, at)) {
      keep(match.index);
      const mask = this.maskEmail(match[0]);
      masked += mask;
      origin.push(...Array(mask.length).fill(null));
      spans.push([match.index, match.index + match[0].length, mask]);
      position = match.index + match[0].length;
    }
    keep(unsent.length);
    for (const match of matches(PHONE, masked, before.length)) {
      const chars = origin.slice(match.index, match.index + match[0].length);
      if (chars.length && !chars.includes(null)) spans.push([chars[0], chars.at(-1) + 1, this.maskPhone(match[0])]);
    }
    spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let out = '';
    for (const [begin, end, mask] of spans) {
      if (begin >= count) break;
      out += unsent.slice(at, begin) + mask;
      at = end;
    }
    if (at < count) out += unsent.slice(at, count);
    // What is held from here on starts `max(at, count)` characters in.
    const rest = Math.max(at, count);
    ctx.pending[choice] = rest - count;
    ctx.before[choice] = start.get(rest) > 0 ? masked[start.get(rest) - 1] : '';
    return out;
  }
}
