// Local stand-ins of the host's `content` resources (request, response, chunk): the same
// methods over a JSON body held in this process, for plugin unit tests in node. They
// read and edit as the host does (content/src/view.rs), minus the size limit, and throw
// host errors the way componentize-js does, so the SDK's wrappers run unchanged over them.

import { hostError } from './state.js';
import { forgetLogprobs, setTexts, texts } from './walk.js';

/** Headers the proxy computes: a plugin may not set them. */
const MANAGED_HEADERS = ['content-length', 'transfer-encoding', 'connection', 'content-type', 'content-encoding'];

const isObject = (value) => typeof value === 'object' && value !== null && !Array.isArray(value);
const clone = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));

function parse(json) {
  try {
    return JSON.parse(json);
  } catch (error) {
    throw hostError({ tag: 'invalid', val: `not valid JSON: ${error.message}` });
  }
}

/** A header a plugin sets: the name lower-cased and a token, not managed, the value without control characters. */
function checkHeader(name, value) {
  const lower = name.toLowerCase();
  if (!/^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/.test(lower)) throw hostError({ tag: 'invalid', val: `header name ${JSON.stringify(lower)} is not a valid HTTP header name` });
  if (MANAGED_HEADERS.includes(lower)) throw hostError({ tag: 'invalid', val: `header ${JSON.stringify(lower)} is managed by the proxy` });
  // eslint-disable-next-line no-control-regex
  if (value.length > 8192 || /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/.test(value)) {
    throw hostError({ tag: 'invalid', val: `value of header ${JSON.stringify(lower)} is not a valid HTTP header value` });
  }
  return [lower, value];
}

/** A body of `kind` (`request`, `response`, `chunk`) and the methods every resource has. */
export class LocalDoc {
  constructor(kind, body, { readOnly = false } = {}) {
    if (!isObject(body)) throw new TypeError(`a local ${kind} is made of a JSON object (parsed), not ${Array.isArray(body) ? 'an array' : typeof body}`);
    this.kind = kind;
    /** The body as it stands, with the edits so far (a copy: the test's object is never changed). */
    this.value = clone(body);
    this.readOnly = readOnly;
  }

  #edit() {
    if (this.readOnly) throw hostError({ tag: 'read-only' });
  }

  texts() {
    return texts(this.kind, this.value).map((part) => ({ ...part }));
  }

  setTexts(edits) {
    this.#edit();
    const copy = clone(this.value);
    const missing = setTexts(this.kind, copy, edits);
    if (missing !== undefined) throw hostError({ tag: 'no-such-text', val: missing });
    this.value = copy;
  }

  fieldNames() {
    return Object.keys(this.value);
  }

  field(name) {
    return Object.prototype.hasOwnProperty.call(this.value, name) ? JSON.stringify(this.value[name]) : undefined;
  }

  setField(name, json) {
    this.#edit();
    if (json === undefined) {
      delete this.value[name];
    } else {
      this.value[name] = parse(json);
    }
  }

  body() {
    return JSON.stringify(this.value);
  }

  setBody(json) {
    this.#edit();
    const value = parse(json);
    if (!isObject(value)) throw hostError({ tag: 'invalid', val: 'the body must be a JSON object' });
    this.value = value;
  }
}

/** The `request` resource: a body, its `model`, and the client's headers. */
export class LocalRequest extends LocalDoc {
  constructor(body, { headers = [], readOnly = false } = {}) {
    super('request', body, { readOnly });
    this.requestHeaders = headers.map(([name, value]) => [String(name).toLowerCase(), String(value)]);
  }

  model() {
    return typeof this.value.model === 'string' ? this.value.model : '';
  }

  headers() {
    return this.requestHeaders.map(([name, value]) => [name, value]);
  }
}

/** The `response` resource: a body, the upstream's status, and the client's headers so far (with those set). */
export class LocalResponse extends LocalDoc {
  constructor(body, { status = 200, headers = [], readOnly = false } = {}) {
    super('response', body, { readOnly });
    this.statusCode = status;
    this.baseHeaders = headers.map(([name, value]) => [String(name).toLowerCase(), String(value)]);
    /** Headers set by the hook, in order, one per name. */
    this.setHeaders = [];
  }

  status() {
    return this.statusCode;
  }

  headers() {
    const set = new Set(this.setHeaders.map(([name]) => name));
    return [...this.baseHeaders.filter(([name]) => !set.has(name)), ...this.setHeaders].map(([n, v]) => [n, v]);
  }

  setHeader(name, value) {
    if (this.readOnly) throw hostError({ tag: 'read-only' });
    const [lower, checked] = checkHeader(name, value);
    const existing = this.setHeaders.find(([n]) => n === lower);
    if (existing) existing[1] = checked;
    else this.setHeaders.push([lower, checked]);
  }
}

/** The `chunk` resource: a body, its choices' finish reasons, and `setContent`. */
export class LocalChunk extends LocalDoc {
  constructor(body, { readOnly = false } = {}) {
    super('chunk', body, { readOnly });
  }

  finishReason(choice) {
    const reason = Array.isArray(this.value.choices) ? this.value.choices[choice]?.finish_reason : undefined;
    return typeof reason === 'string' ? reason : undefined;
  }

  setContent(choice, text) {
    if (this.readOnly) throw hostError({ tag: 'read-only' });
    const target = Array.isArray(this.value.choices) ? this.value.choices[choice] : undefined;
    if (!isObject(target)) throw hostError({ tag: 'invalid', val: `the chunk has no choice ${choice}` });
    // As the host does: `text` for a completion, `delta.content` for chat, both when an
    // upstream wrote both; the choice's logprobs go.
    const completion = typeof target.text === 'string';
    if (completion) target.text = text;
    if (!completion || isObject(target.delta)) {
      if (!isObject(target.delta)) target.delta = {};
      target.delta.content = text;
    }
    forgetLogprobs(target);
  }

  // A chunk has no field names and no setField in the contract.
  fieldNames() {
    throw new TypeError('a chunk has no fieldNames()');
  }

  setField() {
    throw new TypeError('a chunk has no setField()');
  }
}
