// banned-keywords: rejects requests and responses that mention a banned keyword (a
// JavaScript port of plugins/banned-keywords, as bench/plugins-py/banned-keywords-py is in
// Python).
//
// Texts and keywords are compared after `normalize` (NFKC, invisible characters removed,
// whitespace runs as one space, lower-cased), so `SECRET PLAN`, `secret<NBSP>plan`,
// fullwidth `ｓｅｃｒｅｔ plan` and `se<ZWSP>cret plan` all match the keyword `secret plan`.
// Look-alike letters from other scripts are not folded.
//
// Config:
//
//   {"keywords": ["forbidden", "secret plan"], "message": "optional text", "status": 400}
//
// - `keywords` (required): a non-empty list of non-empty strings.
// - `message`: the rejection's message; by default one naming the keyword.
// - `status`: a 4xx status, 400 by default.
//
// `preCall` checks every text of the request the model reads (`req.texts()`: message
// contents and names, tool calls, tool and schema descriptions, prompts, ...), and the
// text parts of each content joined (the model reads them as one text), `postCallSuccess`
// the response's texts the same way, and `streamChunk` the texts each chunk adds
// (with the stream's last `longest` normalized characters kept, so a keyword split across
// chunks is still found, even when the split falls inside a character that normalization
// composes, like `cafe` + U+0301). While streaming it also holds the end of the answer
// back (`HoldBack`, twice the longest keyword), so a keyword split across chunks is
// refused before any of it reaches the client. A rejection has code `banned_keyword`.
// The stream's state is per request (`newCtx`).
//
// Build: node guest-sdk/js/build.mjs bench/plugins-js/banned-keywords-js/plugin.js -o banned_keywords_js.wasm

import { HoldBack, Plugin, Rejection, isDefaultIgnorable, isWhiteSpace, normalize } from 'hookgate-sdk';

const FIELDS = ['keywords', 'message', 'status'];
// Lengths in characters (code points), as the other ports count them.
const length = (text) => Array.from(text).length;

export default class BannedKeywords extends Plugin {
  static name = 'banned-keywords';
  static version = '0.2.0';

  // Runs at load too: a bad config refuses the plugin.
  constructor(config) {
    super(config);
    const settings = config ?? {};
    if (typeof settings !== 'object' || Array.isArray(settings)) {
      throw new Error('invalid config: expected an object with `keywords`');
    }
    const unknown = Object.keys(settings).find((field) => !FIELDS.includes(field));
    if (unknown !== undefined) {
      throw new Error(`invalid config: unknown field \`${unknown}\`, expected one of \`keywords\`, \`message\`, \`status\``);
    }
    if (!('keywords' in settings)) throw new Error('invalid config: missing field `keywords`');
    const { keywords, message = null, status = 400 } = settings;
    const nonEmpty = (keyword) => typeof keyword === 'string' && keyword.trim() !== '';
    if (!Array.isArray(keywords) || keywords.length === 0 || !keywords.every(nonEmpty)) {
      throw new Error('invalid config: `keywords` must be a non-empty list of non-empty strings');
    }
    if (message !== null && typeof message !== 'string') throw new Error('invalid config: `message` must be a string');
    if (!Number.isInteger(status) || status < 0 || status > 65535) {
      throw new Error('invalid config: `status` must be an HTTP status number');
    }
    if (status < 400 || status > 499) throw new Error(`invalid config: \`status\` must be a 4xx HTTP status, not ${status}`);
    this.keywords = keywords.map(normalize);
    if (!this.keywords.every(Boolean)) {
      throw new Error('invalid config: `keywords` must be a non-empty list of non-empty strings');
    }
    this.longest = Math.max(...this.keywords.map(length));
    this.message = message;
    this.status = status;
  }

  newCtx() {
    // tail: the stream's last `longest` characters, normalized; hold: the answer text not
    // yet sent.
    return { tail: '', hold: new HoldBack(2 * this.longest) };
  }

  check(text, what) {
    const keyword = this.keywords.find((k) => text.includes(k));
    if (keyword !== undefined) {
      const message = this.message ?? `${what} contains a banned keyword: ${keyword}`;
      throw new Rejection(this.status, message, 'banned_keyword');
    }
  }

  checkAll(texts, what) {
    for (const part of texts) this.check(normalize(part.text), what);
    // The model reads a message's text parts as one text, joined back to back or with a
    // line break: a phrase split across them is checked joined both ways.
    for (const parts of contentPartRuns(texts)) {
      for (const separator of ['', ' ']) this.check(normalize(parts.join(separator)), what);
    }
  }

  preCall(ctx, req) {
    this.checkAll(req.texts(), 'Request');
  }

  postCallSuccess(ctx, req, resp) {
    this.checkAll(resp.texts(), 'Response');
  }

  streamChunk(ctx, req, chunk) {
    const delta = chunk
      .texts()
      .map((part) => part.text)
      .join('');
    if (delta) {
      // The tail is normalized already; normalizing it again with the delta joins a
      // keyword split across chunks. normalize() trims: text that ends in white space
      // keeps one space, so that the next chunk's first word does not join this one's last.
      const text = ctx.tail + delta;
      let window = normalize(text);
      if (window && endsInWhiteSpace(text)) window += ' ';
      ctx.tail = '';
      this.check(window, 'Response');
      // A keyword wholly in the tail was found already; keeping one character more than
      // `longest - 1` covers a split that normalization merges (`cafe` + U+0301 = `café`).
      ctx.tail = Array.from(window).slice(-this.longest).join('');
    }
    // Send only what cannot be the start of a keyword still arriving.
    ctx.hold.apply(chunk);
  }
}

/**
 * The texts of each content made of several parts (`.../content/<n>/text` or `/refusal`),
 * in order: a client can split `secret plan` into the parts `the secret` and ` plan`,
 * which no text holds alone.
 */
function contentPartRuns(texts) {
  const runs = []; // [content path, [texts]]
  for (const part of texts) {
    const content = contentOf(part.path);
    if (content === null) continue;
    const last = runs.at(-1);
    if (last !== undefined && last[0] === content) last[1].push(part.text);
    else runs.push([content, [part.text]]);
  }
  return runs.filter(([, parts]) => parts.length > 1).map(([, parts]) => parts);
}

/** The path of the content a text part's `path` is in, or null for other texts. */
function contentOf(path) {
  const suffix = ['/text', '/refusal'].find((end) => path.endsWith(end));
  if (suffix === undefined) return null;
  const part = path.slice(0, -suffix.length);
  const slash = part.lastIndexOf('/');
  if (slash < 0) return null;
  const content = part.slice(0, slash);
  return content.endsWith('/content') && /^[0-9]*$/.test(part.slice(slash + 1)) ? content : null;
}

/** Whether the last character of `text` that is not an invisible one is White_Space. */
function endsInWhiteSpace(text) {
  const last = Array.from(text).findLast((ch) => !isDefaultIgnorable(ch));
  return last !== undefined && isWhiteSpace(last);
}
