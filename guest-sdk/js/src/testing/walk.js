// Where the texts of a body are, for the local stand-ins of `hookgate-sdk/testing` only:
// in a component the host finds them (crate hookgate-content, content/src/texts.rs). This
// is a port of that code, tested against the same vectors (guest-sdk/conformance/text.json)
// so that it cannot drift from the host's:
//
// - request: per `messages[]` entry its `name`, `content` (a string, or the `text` of its
//   parts and the `refusal` of `refusal` parts), `refusal`, per `tool_calls[]` entry
//   `function.name`, `function.arguments` and `custom.input`, and the deprecated
//   `function_call`; per `tools[]` entry a function's `name`, `description` and
//   `parameters` schema (or every string of a `custom` tool); the deprecated
//   `functions[]`; `response_format.json_schema`'s `name`, `description`, `schema`;
//   `prediction.content`; `prompt` (a string or strings) and `suffix`; `input`.
// - a schema contributes every string in it, in document order, and the keys of its
//   `properties` objects (each property name, as an `isKey` text, before its schema).
// - response: per `choices[]` entry `message.content`, `message.refusal`,
//   `message.tool_calls[].function.name` and `.arguments` (or `.custom.input`), the
//   deprecated `message.function_call.name` and `.arguments`, `message.audio.transcript`,
//   and `text`; a chunk the same of each choice's `delta`, and its `text`.
//
// One difference no port can remove: JavaScript objects list integer-like keys ("0",
// "12") first, so a property so named comes first here, not in document order.

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const has = (object, key) => Object.prototype.hasOwnProperty.call(object, key);
// The fields of a message read as what they are (or holding no text a model reads);
// every string of any other field is read as text.
const MESSAGE_FIELDS = ['role', 'name', 'content', 'refusal', 'tool_calls', 'function_call', 'tool_call_id', 'audio'];
// A response message's or chunk delta's fields read as what they are; every string of any
// other field (`reasoning_content`, annotations) is a text, as the model wrote it.
const REPLY_FIELDS = ['role', 'content', 'refusal', 'tool_calls', 'function_call', 'audio'];

/** A JSON pointer token: `~` → `~0`, `/` → `~1`. */
const escape = (token) => token.replaceAll('~', '~0').replaceAll('/', '~1');
const unescape = (token) => token.replaceAll('~1', '/').replaceAll('~0', '~');

class Walk {
  constructor() {
    this.path = [];
    this.item = null;
    this.role = null;
    this.found = [];
  }

  push(text, isKey) {
    const path = this.path.map((token) => `/${escape(token)}`).join('');
    this.found.push({ path, isKey, item: this.item, role: this.role, text });
  }

  /** Runs `visit` on `object[key]` when present. */
  field(object, key, visit) {
    if (isObject(object) && has(object, key)) {
      this.path.push(key);
      visit.call(this, object[key]);
      this.path.pop();
    }
  }

  /** Runs `visit` on every item of an array. */
  items(value, visit) {
    if (!Array.isArray(value)) return;
    value.forEach((item, index) => {
      this.path.push(String(index));
      visit.call(this, item);
      this.path.pop();
    });
  }

  text(value) {
    if (typeof value === 'string') this.push(value, false);
  }

  /** A string, or the strings of a list (token ids are skipped). */
  strings(value) {
    if (Array.isArray(value)) this.items(value, this.text);
    else this.text(value);
  }

  part(value) {
    this.field(value, 'text', this.text);
    if (isObject(value) && value.type === 'refusal') this.field(value, 'refusal', this.text);
  }

  /** A message content: a string, or a list of parts. */
  content(value) {
    if (Array.isArray(value)) this.items(value, this.part);
    else this.text(value);
  }

  schema(value) {
    this.schemaOf(value, false);
  }

  /** Every string leaf in document order; with `names`, `value` is a `properties` object, whose keys are texts too. */
  schemaOf(value, names) {
    if (typeof value === 'string') {
      this.push(value, false);
    } else if (Array.isArray(value)) {
      value.forEach((item, index) => {
        this.path.push(String(index));
        this.schemaOf(item, false);
        this.path.pop();
      });
    } else if (isObject(value)) {
      for (const [key, inner] of Object.entries(value)) {
        this.path.push(key);
        if (names) this.push(key, true);
        this.schemaOf(inner, !names && key === 'properties');
        this.path.pop();
      }
    }
  }

  /** `name`, `description`, `parameters`: a function tool or a legacy function. */
  function(value) {
    this.field(value, 'name', this.text);
    this.field(value, 'description', this.text);
    this.field(value, 'parameters', this.schema);
    this.rest(value, ['name', 'description', 'parameters', 'strict']);
  }

  /** Every string of each field of `value` not in `known`, as a schema's. */
  rest(value, known) {
    if (!isObject(value)) return;
    for (const [key, inner] of Object.entries(value)) {
      if (known.includes(key)) continue;
      this.path.push(key);
      this.schema(inner);
      this.path.pop();
    }
  }

  /** `name` and `arguments` of a (tool or legacy) function call. */
  call(value) {
    this.field(value, 'name', this.text);
    this.field(value, 'arguments', this.text);
  }

  toolCall(value) {
    this.field(value, 'function', this.call);
    this.field(value, 'custom', (custom) => this.field(custom, 'input', this.text));
  }

  message(value) {
    this.role = isObject(value) && typeof value.role === 'string' ? value.role : null;
    this.field(value, 'name', this.text);
    this.field(value, 'content', this.content);
    this.field(value, 'refusal', this.text);
    this.field(value, 'tool_calls', (calls) => this.items(calls, this.toolCall));
    this.field(value, 'function_call', this.call);
    this.rest(value, MESSAGE_FIELDS);
  }

  tool(value) {
    if (!isObject(value)) return;
    if (!has(value, 'type') || value.type === 'function') this.field(value, 'function', this.function);
    else if (value.type === 'custom') this.field(value, 'custom', this.schema);
    else return;
    this.rest(value, ['type', 'function', 'custom']);
  }

  jsonSchema(value) {
    this.field(value, 'name', this.text);
    this.field(value, 'description', this.text);
    this.field(value, 'schema', this.schema);
  }

  request(body) {
    this.field(body, 'messages', (messages) => {
      if (!Array.isArray(messages)) return;
      messages.forEach((message, index) => {
        this.item = index;
        this.path.push(String(index));
        this.message(message);
        this.path.pop();
      });
      this.item = null;
      this.role = null;
    });
    this.field(body, 'tools', (tools) => this.items(tools, this.tool));
    this.field(body, 'functions', (functions) => this.items(functions, this.function));
    this.field(body, 'response_format', (format) => this.field(format, 'json_schema', this.jsonSchema));
    this.field(body, 'prediction', (prediction) => this.field(prediction, 'content', this.content));
    this.field(body, 'prompt', this.strings);
    this.field(body, 'suffix', this.text);
    this.field(body, 'input', this.strings);
  }

  /** A response message or a chunk delta: everything the model wrote into it. */
  reply(value) {
    this.field(value, 'content', this.content);
    this.field(value, 'refusal', this.text);
    this.field(value, 'tool_calls', (calls) => this.items(calls, this.toolCall));
    this.field(value, 'function_call', this.call);
    this.field(value, 'audio', (audio) => this.field(audio, 'transcript', this.text));
    this.rest(value, REPLY_FIELDS);
  }

  responseChoice(value) {
    this.field(value, 'message', this.reply);
    this.field(value, 'text', this.text);
  }

  chunkChoice(value) {
    this.field(value, 'delta', this.reply);
    this.field(value, 'text', this.text);
  }

  choices(body, visit) {
    if (!isObject(body) || !Array.isArray(body.choices)) return;
    this.path.push('choices');
    this.role = 'assistant';
    body.choices.forEach((choice, index) => {
      this.item = index;
      this.path.push(String(index));
      visit.call(this, choice);
      this.path.pop();
    });
    this.path.pop();
  }
}

/**
 * Every text of `body` (a parsed JSON value) of `kind` (`'request'`, `'response'` or
 * `'chunk'`), in document order, as the contract's `text-part` records
 * (`{path, isKey, item, role, text}`); none when the body is not an object.
 */
export function texts(kind, body) {
  if (!isObject(body)) return [];
  const walk = new Walk();
  if (kind === 'request') walk.request(body);
  else if (kind === 'response') walk.choices(body, walk.responseChoice);
  else if (kind === 'chunk') walk.choices(body, walk.chunkChoice);
  else throw new TypeError(`unknown body kind ${kind}`);
  return walk.found;
}

/** The value a JSON pointer names inside `root`, with its parent and token; undefined when absent. */
function resolve(root, pointer) {
  const tokens = pointer.split('/').slice(1).map(unescape);
  let parent;
  let value = root;
  let token;
  for (token of tokens) {
    if (value === null || typeof value !== 'object' || !has(value, token)) return undefined;
    parent = value;
    value = value[token];
  }
  return { parent, token, value };
}

/** Renames `from` to `to` in place, keeping its position; on a collision the first position wins, with the later value. */
function rename(object, from, to) {
  const entries = Object.entries(object).map(([key, value]) => [key === from ? to : key, value]);
  const out = new Map();
  for (const [key, value] of entries) out.set(key, value); // a repeated key keeps its first position, takes the later value
  for (const key of Object.keys(object)) delete object[key];
  for (const [key, value] of out) object[key] = value;
}

/**
 * Replaces texts of `body` (in place) by their position in `texts(kind, body)`: `edits`
 * is `[{index, text}]`; all or nothing (a later edit of the same position wins). Returns
 * the position of the first edit that names no text, or undefined when all applied.
 */
/** An edited choice loses its `logprobs`: they list the old text's tokens (as the host does). */
export function forgetLogprobs(choice) {
  if (isObject(choice) && choice.logprobs !== undefined && choice.logprobs !== null) choice.logprobs = null;
}

export function setTexts(kind, body, edits) {
  const parts = texts(kind, body);
  const missing = edits.find(({ index }) => index >= parts.length);
  if (missing) return missing.index;
  const values = [];
  const keys = [];
  for (const { index, text } of edits) {
    const part = parts[index];
    if (part.text === text) continue;
    (part.isKey ? keys : values).push({ index, path: part.path, text });
    if (kind !== 'request' && part.item != null) forgetLogprobs(body.choices[part.item]);
  }
  for (const { path, text } of values) {
    const found = resolve(body, path);
    if (found && typeof found.value === 'string') found.parent[found.token] = text;
  }
  // A property's name comes before everything inside it: renaming from the last one back
  // keeps the paths of those still to rename valid.
  keys.sort((a, b) => b.index - a.index);
  for (const { path, text } of keys) {
    const cut = path.lastIndexOf('/');
    const parent = cut <= 0 ? { value: body } : resolve(body, path.slice(0, cut));
    if (parent && typeof parent.value === 'object' && parent.value !== null && !Array.isArray(parent.value)) {
      rename(parent.value, unescape(path.slice(cut + 1)), text);
    }
  }
  return undefined;
}
