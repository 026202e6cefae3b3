// The texts of requests, responses and stream chunks, and the normalization guardrails
// match them in.
//
// Pure functions over parsed JSON: nothing here calls the host, so node runs (and tests)
// them as they are. The Rust SDK (`hookgate_sdk::text`) and the Python SDK
// (`hookgate_sdk.text`) implement the same locations, order and normalization; all three
// are tested against guest-sdk/conformance/text.json.
//
// Request texts, in this order (document order of the fields below; values of another
// type are skipped):
//
// - `messages[]`, per message: `name`; `content` (a string, or of a list of parts: the
//   `text` of every part that has a string `text`, the `refusal` of `refusal` parts);
//   `refusal`; per `tool_calls[]` entry: `function.name`, `function.arguments` (JSON
//   text, taken as text), `custom.input`; the deprecated `function_call.name` and
//   `function_call.arguments`.
// - `tools[]`: a function tool (`type` "function" or absent): `function.name`,
//   `function.description`, then the schema `function.parameters`; a custom tool: every
//   string leaf of `custom`.
// - the deprecated `functions[]`: `name`, `description`, the schema `parameters`.
// - `response_format.json_schema`: `name`, `description`, the schema `schema`.
// - `prediction.content` (a string or text parts).
// - `prompt` (a string or a list of strings; token-id prompts carry no text), `suffix`.
// - `input` (a string or a list of strings).
//
// A schema contributes every string leaf, in document order, plus the keys of every
// `properties` object in it (the property names, each before its schema). Image, audio and
// file parts carry no text. (JavaScript objects list integer-like keys, "0", "12", first:
// a JSON property named that way comes first here, not in document order.)
//
// Response texts: per choice, `message.content` (string or parts), `message.refusal`,
// `message.tool_calls[].function.name` and `.arguments`, and `text` (completions).
// Chunk texts: per choice, `delta.content`, `delta.refusal`,
// `delta.tool_calls[].function.name` and `.arguments`.

import { nfkc } from './nfkc.js';

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

// Visits the texts of a body in order, calling `f` on each. A text `f` changes is replaced
// copy-on-write: objects and arrays on the way to a change are shallow-copied, the rest is
// shared, and the input is never modified. Each method returns its input itself when
// nothing under it changed.
class Walk {
  constructor(f) {
    this.f = f;
  }

  text(value) {
    if (typeof value !== 'string') return value;
    const result = this.f(value);
    if (typeof result !== 'string') {
      throw new TypeError(`mapTexts: the function must return a string, not ${result === null ? 'null' : typeof result}`);
    }
    return result === value ? value : result;
  }

  // `object` with `visit(object[key])` at `key`: `object` itself when that is unchanged.
  field(object, key, visit) {
    if (!isObject(object) || !has(object, key)) return object;
    const old = object[key];
    const result = visit.call(this, old);
    return result === old ? object : { ...object, [key]: result };
  }

  // An array with `visit` applied to each item: the array itself when none changed.
  items(value, visit) {
    if (!Array.isArray(value)) return value;
    let out;
    value.forEach((old, i) => {
      const result = visit.call(this, old);
      if (result !== old) (out ??= [...value])[i] = result;
    });
    return out ?? value;
  }

  // A string, or the strings of an array (token ids are skipped).
  strings(value) {
    return Array.isArray(value) ? this.items(value, this.text) : this.text(value);
  }

  part(part) {
    if (!isObject(part)) return part;
    part = this.field(part, 'text', this.text);
    return part.type === 'refusal' ? this.field(part, 'refusal', this.text) : part;
  }

  // A message content: a string, or an array of parts.
  content(value) {
    return Array.isArray(value) ? this.items(value, this.part) : this.text(value);
  }

  // Every string leaf in document order; with `names`, `value` is a `properties` object,
  // whose keys (property names) are texts too.
  schema(value, names = false) {
    if (typeof value === 'string') return this.text(value);
    if (Array.isArray(value)) return this.items(value, (item) => this.schema(item));
    if (!isObject(value)) return value;
    const out = {};
    let changed = false;
    for (const [key, old] of Object.entries(value)) {
      const newKey = names ? this.text(key) : key;
      const result = this.schema(old, !names && key === 'properties');
      changed ||= newKey !== key || result !== old;
      out[newKey] = result; // a renamed key that collides: first position, last value
    }
    return changed ? out : value;
  }

  // `name`, `description`, `parameters`: a function tool or a legacy function.
  function(fn) {
    fn = this.field(fn, 'name', this.text);
    fn = this.field(fn, 'description', this.text);
    return this.field(fn, 'parameters', this.schema);
  }

  // `name` and `arguments` of a (tool or legacy) function call.
  call(fn) {
    fn = this.field(fn, 'name', this.text);
    return this.field(fn, 'arguments', this.text);
  }

  toolCall(call) {
    call = this.field(call, 'function', this.call);
    return this.field(call, 'custom', (custom) => this.field(custom, 'input', this.text));
  }

  message(message) {
    message = this.field(message, 'name', this.text);
    message = this.field(message, 'content', this.content);
    message = this.field(message, 'refusal', this.text);
    message = this.field(message, 'tool_calls', (calls) => this.items(calls, this.toolCall));
    return this.field(message, 'function_call', this.call);
  }

  tool(tool) {
    if (!isObject(tool)) return tool;
    const kind = has(tool, 'type') ? tool.type : 'function';
    if (kind === 'function') return this.field(tool, 'function', this.function);
    if (kind === 'custom') return this.field(tool, 'custom', (custom) => this.schema(custom));
    return tool;
  }

  jsonSchema(spec) {
    spec = this.field(spec, 'name', this.text);
    spec = this.field(spec, 'description', this.text);
    return this.field(spec, 'schema', (schema) => this.schema(schema));
  }

  request(body) {
    body = this.field(body, 'messages', (messages) => this.items(messages, this.message));
    body = this.field(body, 'tools', (tools) => this.items(tools, this.tool));
    body = this.field(body, 'functions', (functions) => this.items(functions, this.function));
    body = this.field(body, 'response_format', (format) => this.field(format, 'json_schema', this.jsonSchema));
    body = this.field(body, 'prediction', (prediction) => this.field(prediction, 'content', this.content));
    body = this.field(body, 'prompt', this.strings);
    body = this.field(body, 'suffix', this.text);
    return this.field(body, 'input', this.strings);
  }

  // A response message or a chunk delta: content, refusal, tool call functions.
  reply(message) {
    message = this.field(message, 'content', this.content);
    message = this.field(message, 'refusal', this.text);
    return this.field(message, 'tool_calls', (calls) => this.items(calls, (c) => this.field(c, 'function', this.call)));
  }

  response(body) {
    const choice = (c) => this.field(this.field(c, 'message', this.reply), 'text', this.text);
    return this.field(body, 'choices', (choices) => this.items(choices, choice));
  }

  chunk(body) {
    return this.field(body, 'choices', (choices) => this.items(choices, (c) => this.field(c, 'delta', this.reply)));
  }
}

function collect(walk, body) {
  const texts = [];
  walk.call(
    new Walk((text) => {
      texts.push(text);
      return text;
    }),
    body,
  );
  return texts;
}

/** Every text of a request body (a parsed JSON object) the model reads, in order. */
export function requestTexts(body) {
  return collect(Walk.prototype.request, body);
}

/**
 * `body` with every text `requestTexts` lists replaced by `f(text)` (a string), visited in
 * the same order; `undefined` when `f` changed none. `body` is not modified: the result
 * shares what did not change.
 */
export function mapRequestTexts(body, f) {
  if (typeof f !== 'function') throw new TypeError('mapTexts: expected a function from text to text');
  const result = new Walk(f).request(body);
  return result === body ? undefined : result;
}

/** Every generated text of a response body: content, refusal, tool calls, `text`. */
export function responseTexts(body) {
  return collect(Walk.prototype.response, body);
}

/** Every text a stream chunk adds: the deltas' content, refusal and tool calls. */
export function chunkTexts(chunk) {
  return collect(Walk.prototype.chunk, chunk);
}

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
  text = nfkc(String(text));
  const stripped = text.replace(IGNORABLE, '');
  if (stripped.length !== text.length) text = nfkc(stripped);
  return text.replace(WHITE_SPACE_RUN, ' ').replace(EDGE_SPACES, '').toLowerCase().replaceAll('\u03C2', '\u03C3');
}
