// The request, the response and stream chunks, as hooks read and edit them.
//
// In a component these wrap the host's `content` resources (wit/plugin.wit): nothing is
// copied or parsed until a hook asks, and edits happen in the host (no JSON parser runs
// in the guest). `req.texts()` lists every text the model reads, with where it is;
// `req.setTexts` replaces some; `req.mapTexts` rewrites them all. Edits stand only if
// the hook returns normally.
//
// The wrappers are valid during the hook call they were passed to: the host takes its
// values back when the call returns, so keep what you need (texts, fields), not `req`.
//
// In a plugin's unit tests in node, `hookgate-sdk/testing` makes the same classes over a
// local stand-in of a resource (`localRequest(body)`, ...).

import { editing } from './errors.js';

/** One text of a body, and where it is. `String(text)` is the text itself. */
export class Text {
  constructor(text, path, isKey, item, role) {
    /** The text. */
    this.text = text;
    /** A JSON pointer to it in the body, e.g. `/messages/2/content/0/text`. */
    this.path = path;
    /** True when the text is a property name of a schema rather than a string value. */
    this.isKey = isKey;
    /** The index of the message (request) or choice (response, chunk) it belongs to, or null. */
    this.item = item;
    /** That message's role (`assistant` for response and chunk texts), or null. */
    this.role = role;
  }

  toString() {
    return this.text;
  }

  /** A text from the contract's `text-part` record. */
  static from(part) {
    return new Text(part.text, part.path, Boolean(part.isKey), part.item ?? null, part.role ?? null);
  }
}

/** Replacements as `[[index, text], ...]` (any iterable of pairs), as the contract's `text-edit`s. */
function textEdits(edits) {
  if (edits === null || typeof edits !== 'object' || typeof edits[Symbol.iterator] !== 'function') {
    throw new TypeError('setTexts takes [[index, text], ...] pairs');
  }
  const out = [];
  for (const edit of edits) {
    const [index, text] = Array.isArray(edit) ? edit : [edit?.index, edit?.text];
    if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) {
      throw new TypeError(`setTexts: a text's position is an integer from 0, got ${index}`);
    }
    if (typeof text !== 'string') throw new TypeError(`setTexts: the new text at ${index} must be a string, not ${typeof text}`);
    out.push({ index, text });
  }
  return out;
}

function jsonText(value, method) {
  if (typeof value !== 'string') throw new TypeError(`${method} takes JSON text (JSON.stringify the value), not ${typeof value}`);
  return value;
}

function parseOrNull(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function pairs(headers) {
  return headers.map(([name, value]) => [name, value]);
}

function findHeader(headers, name) {
  const wanted = String(name).toLowerCase();
  const found = headers.find(([key]) => key.toLowerCase() === wanted);
  return found ? found[1] : undefined;
}

/** What the three wrappers share: texts and their edits, a field, the body. */
class Doc {
  #handle;

  constructor(handle) {
    this.#handle = handle;
  }

  /** The resource (or, in tests, its local stand-in). */
  get _handle() {
    return this.#handle;
  }

  /** Every text of the body, in document order: an array of `Text` (`{text, path, isKey, item, role}`). */
  texts() {
    return this.#handle.texts().map(Text.from);
  }

  /** Replaces texts by their position in `texts()`: `setTexts([[0, 'new'], [3, 'other']])`; all or nothing. */
  setTexts(edits) {
    const list = textEdits(edits);
    editing(() => this.#handle.setTexts(list));
  }

  /** Replaces the text at `index` of `texts()`. */
  setText(index, text) {
    this.setTexts([[index, text]]);
  }

  /**
   * Rewrites every text with `f(text, part)` (a string from a string; `part` is the
   * `Text`), in `texts()` order, and sets those that changed in one edit. True when any
   * changed.
   */
  mapTexts(f) {
    if (typeof f !== 'function') throw new TypeError('mapTexts takes a function from text to text');
    const edits = [];
    this.texts().forEach((part, index) => {
      const text = f(part.text, part);
      if (typeof text !== 'string') throw new TypeError(`mapTexts: the function must return a string, not ${text === null ? 'null' : typeof text}`);
      if (text !== part.text) edits.push([index, text]);
    });
    if (edits.length) this.setTexts(edits);
    return edits.length > 0;
  }

  /** A top-level field as JSON text (`temperature` → `'0.2'`); `undefined` when absent. */
  field(name) {
    return this.#handle.field(String(name)) ?? undefined;
  }

  /** The whole body as JSON text. */
  body() {
    return this.#handle.body();
  }

  /** Replaces the whole body with JSON text of an object. */
  setBody(json) {
    const text = jsonText(json, 'setBody');
    editing(() => this.#handle.setBody(text));
  }

  /** The whole body, parsed in the guest (`null` if it is not JSON): prefer texts and fields. */
  json() {
    return parseOrNull(this.body());
  }
}

/** Fields, which a request and a response may name and set (a chunk may not). */
class Fields extends Doc {
  /** The names of the body's top-level fields, in order. */
  fieldNames() {
    return this._handle.fieldNames();
  }

  /** Sets a top-level field to JSON text; `undefined` (or `null`) removes it. */
  setField(name, json) {
    const value = json === undefined || json === null ? undefined : jsonText(json, 'setField');
    editing(() => this._handle.setField(String(name), value));
  }
}

/** The contract's `call-type` as a string: `chat_completion`, `text_completion`, `embedding`, or another endpoint's name. */
export function callTypeName(callType) {
  switch (callType?.tag) {
    case 'chat-completion':
      return 'chat_completion';
    case 'text-completion':
      return 'text_completion';
    case 'embedding':
      return 'embedding';
    case 'other':
      return String(callType.val);
    default:
      return String(callType?.tag ?? callType);
  }
}

/** Who is calling, as the operator configured the key. Never the raw key. */
export class Key {
  #metadataText;
  #metadata;

  constructor(info) {
    /** The key's alias from the proxy config (`master` for the master key), or null. */
    this.alias = info.alias ?? null;
    /** The key's id: lower-case hex HMAC-SHA256 of the key; stable, not reversible: good for per-key counters. */
    this.id = info.id;
    /** The user id configured for the key, or null. */
    this.userId = info.userId ?? null;
    /** The team id configured for the key, or null. */
    this.teamId = info.teamId ?? null;
    this.#metadataText = info.metadata;
  }

  /** The key's metadata from the config, parsed (on first use): an object, `{}` when none. */
  get metadata() {
    if (this.#metadata === undefined) {
      const value = typeof this.#metadataText === 'string' ? parseOrNull(this.#metadataText) : null;
      this.#metadata = value !== null && typeof value === 'object' && !Array.isArray(value) ? value : {};
    }
    return this.#metadata;
  }

  toJSON() {
    return { alias: this.alias, id: this.id, userId: this.userId, teamId: this.teamId, metadata: this.metadata };
  }
}

/**
 * The client's request, with the edits of earlier pre-call hooks (and, in `preCall`, this
 * hook's own so far). Edits are allowed in `preCall` only; elsewhere they throw
 * `EditError` (`read-only`).
 */
export class Request extends Fields {
  #call;
  #key;

  /** `call` is the contract's `call-context`, `handle` the `request` resource (or a local stand-in). */
  constructor(call, handle) {
    super(handle);
    this.#call = call;
  }

  /** The contract's `call-context` this request came with. */
  get _call() {
    return this.#call;
  }

  /** The request id: unique, generated by the proxy, the same in its logs. */
  get id() {
    return this.#call.requestId;
  }

  /** The endpoint: `chat_completion`, `text_completion`, `embedding`, or another endpoint's name (e.g. `responses`). */
  get callType() {
    return callTypeName(this.#call.callType);
  }

  /** Whether the client asked for a streamed answer. */
  get stream() {
    return Boolean(this.#call.stream);
  }

  /** Who is calling: `alias`, `id`, `userId`, `teamId`, `metadata`. */
  get key() {
    this.#key ??= new Key(this.#call.key);
    return this.#key;
  }

  /** The body's `model`. */
  get model() {
    return this._handle.model();
  }

  /** The client's headers as `[name, value]` pairs, names lower-case, credentials removed. */
  headers() {
    return pairs(this._handle.headers());
  }

  /** The value of header `name` (case-insensitive), or `undefined`. */
  header(name) {
    return findHeader(this._handle.headers(), name);
  }
}

/**
 * The answer on its way to the client: the upstream's response with earlier hooks'
 * edits, or, in `logSuccess` after a stream, the completion assembled from it. Edits
 * (texts, fields, body, headers) are allowed in `postCallSuccess` only.
 */
export class Response extends Fields {
  /** The HTTP status the upstream answered with. */
  get status() {
    return this._handle.status();
  }

  /** The headers the client will get so far, as `[name, value]` pairs. */
  headers() {
    return pairs(this._handle.headers());
  }

  /** The value of header `name` (case-insensitive), or `undefined`. */
  header(name) {
    return findHeader(this._handle.headers(), name);
  }

  /** Sets a header of the client's response, replacing any of that name. */
  setHeader(name, value) {
    if (typeof name !== 'string') throw new TypeError(`setHeader: the name must be a string, not ${typeof name}`);
    if (typeof value !== 'string' && typeof value !== 'number') {
      throw new TypeError(`setHeader: the value must be a string, not ${typeof value}`);
    }
    editing(() => this._handle.setHeader(name, String(value)));
  }
}

/** Whether a chunk text at `path` is answer text: `/choices/<i>/delta/content` (or one of its parts) or `/choices/<i>/text`. */
function isAnswerText(path) {
  const tokens = path.split('/').slice(1);
  if (tokens[0] !== 'choices' || tokens.length < 3) return false;
  if (tokens[2] === 'text') return tokens.length === 3;
  return tokens[2] === 'delta' && tokens[3] === 'content';
}

/** One streamed chunk (`chat.completion.chunk`, or a text completion chunk). Edits are allowed in `streamChunk` only. */
export class Chunk extends Doc {
  /**
   * The answer text this chunk adds: every choice's delta content (or completion `text`),
   * joined; `null` when no choice carries any (role-only, finish and usage chunks).
   */
  text() {
    const answers = this.answerTexts();
    return answers.length ? answers.map((part) => part.text).join('') : null;
  }

  /** The texts of `texts()` that are answer text (delta content or completion `text`), not refusals or tool calls. */
  answerTexts() {
    return this.texts().filter((part) => isAnswerText(part.path));
  }

  /** The `finish_reason` of `choices[choice]` when this chunk ends that choice, else `null`. */
  finishReason(choice = 0) {
    return this._handle.finishReason(choiceIndex(choice)) ?? null;
  }

  /**
   * Sets the answer text of `choices[choice]`: its `delta.content` (`text` in a text
   * completion chunk), adding it when the chunk has none, e.g. to release held-back text
   * into the chunk that ends the choice.
   */
  setContent(choice, text) {
    if (typeof text !== 'string') throw new TypeError(`setContent: the text must be a string, not ${typeof text}`);
    const index = choiceIndex(choice);
    editing(() => this._handle.setContent(index, text));
  }
}

function choiceIndex(choice) {
  if (!Number.isInteger(choice) || choice < 0 || choice > 0xffffffff) throw new TypeError(`a choice is an integer from 0, got ${choice}`);
  return choice;
}

/** The error on the way to the client (postCallFailure; `entry.failure`). */
export function failureOf(failure) {
  return {
    /** The HTTP status the client gets. */
    status: failure.status,
    /** The OpenAI error type: `invalid_request_error`, `api_error`, `plugin_error`, ... */
    errorType: failure.errorType,
    /** The error message the client gets. */
    message: failure.message,
    /** The error code, or null. */
    code: failure.code ?? null,
    /** The plugin that rejected the request, or null. */
    rejectedBy: failure.rejectedBy ?? null,
  };
}

const number = (value) => (typeof value === 'bigint' ? Number(value) : value);

/**
 * What the logging hooks are told about a finished request besides its content, with
 * the contract's fields in camelCase: `model`, `modelUsed`, `apiBase`, `endUser`,
 * `statusCode`, `usage` (`{promptTokens, completionTokens, totalTokens}` or null),
 * `responseCost`, `startTime`, `endTime`, `completionStartTime`, `failure`, `decisions`
 * (`{plugin, hook, decision, cause, calls, startedMs, elapsedMs}`), `truncated`. Absent
 * values are null.
 */
export function logEntryOf(entry) {
  const usage = entry.usage
    ? { promptTokens: number(entry.usage.promptTokens), completionTokens: number(entry.usage.completionTokens), totalTokens: number(entry.usage.totalTokens) }
    : null;
  return {
    model: entry.model,
    modelUsed: entry.modelUsed ?? null,
    apiBase: entry.apiBase ?? null,
    endUser: entry.endUser ?? null,
    statusCode: entry.statusCode,
    usage,
    responseCost: entry.responseCost ?? null,
    startTime: entry.startTime,
    endTime: entry.endTime,
    completionStartTime: entry.completionStartTime ?? null,
    failure: entry.failure ? failureOf(entry.failure) : null,
    decisions: (entry.decisions ?? []).map((d) => ({
      plugin: d.plugin,
      hook: d.hook,
      decision: d.decision,
      cause: d.cause ?? null,
      calls: d.calls,
      startedMs: d.startedMs,
      elapsedMs: d.elapsedMs,
    })),
    truncated: [...(entry.truncated ?? [])],
  };
}
