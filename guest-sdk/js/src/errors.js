// How a hook says no, and the errors the SDK throws.
//
// - `Rejection` is the plugin's *answer*: throw it and the client gets its status (a 4xx)
//   and message as an OpenAI error.
// - Anything else a hook throws is a *failure*: the host handles it like a crash, by the
//   plugin's `on_error` policy, and the client never sees its text (the operator's log
//   does). `fail(reason)` (or `throw new Fail(reason)`) fails with exactly that reason;
//   any other value is reported as `TypeName: message (at frame)`.
// - `EditError`: the host refused an edit; nothing changed. Left uncaught, a failure.
// - `KvError`: a kv call failed. Left uncaught, a failure.

/**
 * A plugin's refusal: throw it from a hook and the client gets `status` (a 4xx; the host
 * clamps anything else to 400) and `message` as an OpenAI error, with `code` as
 * `error.code` (the status when none).
 */
export class Rejection extends Error {
  constructor(status, message, code) {
    super(message === undefined ? '' : String(message));
    this.name = 'Rejection';
    this.status = status;
    this.code = code == null ? undefined : String(code);
  }

  /** A 400 Bad Request: the usual refusal of a request's content. */
  static badRequest(message, code) {
    return new Rejection(400, message, code);
  }

  /** A 403 Forbidden: the caller may not do this. */
  static forbidden(message, code) {
    return new Rejection(403, message, code);
  }

  /** A 429 Too Many Requests: for rate and budget limits. */
  static tooManyRequests(message, code) {
    return new Rejection(429, message, code);
  }

  /** Sets `error.code` and returns the rejection: `throw Rejection.badRequest(m).withCode('x')`. */
  withCode(code) {
    this.code = code == null ? undefined : String(code);
    return this;
  }

  toString() {
    return `Rejection(${this.status}, ${JSON.stringify(this.message)}${this.code === undefined ? '' : `, ${JSON.stringify(this.code)}`})`;
  }
}

/** A failure with exactly `reason` as its message: see `fail`. */
export class Fail extends Error {
  constructor(reason) {
    super(String(reason));
    this.name = 'Fail';
    this.reason = String(reason);
  }
}

/**
 * Fails this hook call with `reason` ("I cannot decide"): the host applies the plugin's
 * `on_error` policy (`fail-open` goes on without the plugin, `fail-closed` answers 503)
 * and logs `reason`. Never returns. Like the Rust SDK's `fail(reason)`.
 */
export function fail(reason) {
  throw new Fail(reason);
}

const EDIT_MESSAGES = {
  'read-only': () => 'this hook may not edit it',
  'no-such-text': (index) => `no text at position ${index}`,
  invalid: (detail) => String(detail),
  'too-large': (bytes) => `the edited body would be ${bytes} bytes, over the plugin's max_output_bytes`,
};

/**
 * The host refused an edit; nothing changed. `kind` is the contract's case:
 *
 * - `'read-only'`: this hook may not edit this value (the request after pre-call,
 *   anything in moderation or the logging hooks);
 * - `'no-such-text'`: no text has position `detail`;
 * - `'invalid'`: the value is not JSON, or not what it must be (`detail` says why);
 * - `'too-large'`: the edited body would be `detail` bytes, over the plugin's
 *   `max_output_bytes`.
 *
 * Left uncaught it fails the hook (`edit refused: ...`), as `?` does in Rust.
 */
export class EditError extends Error {
  constructor(kind, detail) {
    super((EDIT_MESSAGES[kind] ?? String)(detail));
    this.name = 'EditError';
    this.kind = kind;
    this.detail = detail;
  }
}

/**
 * A kv call failed. `unavailable` is true when the store could not be reached or did
 * not answer in time (retrying later may work); otherwise (`kind` `'invalid'`) the call
 * itself was wrong (e.g. `incr` on a value that is not an integer) or the plugin's kv
 * quota is full. `detail` is the host's explanation.
 */
export class KvError extends Error {
  constructor(kind, detail) {
    super(kind === 'unavailable' ? `kv store unavailable: ${detail}` : `invalid kv call: ${detail}`);
    this.name = 'KvError';
    this.kind = kind;
    this.detail = detail;
  }

  /** True when the store could not be reached or did not answer in time. */
  get unavailable() {
    return this.kind === 'unavailable';
  }
}

/** The WIT error payload of a failed host call (componentize-js puts it on `payload`). */
export function payloadOf(error) {
  const payload = error !== null && typeof error === 'object' ? error.payload : undefined;
  return payload !== null && typeof payload === 'object' && typeof payload.tag === 'string' ? payload : undefined;
}

/** Runs a content method, turning the host's `edit-error` into an `EditError`. */
export function editing(call) {
  try {
    return call();
  } catch (error) {
    const payload = payloadOf(error);
    if (payload && payload.tag in EDIT_MESSAGES) {
      const detail = typeof payload.val === 'bigint' ? Number(payload.val) : payload.val;
      throw new EditError(payload.tag, detail);
    }
    throw error;
  }
}

/** The first frame of a stack, as SpiderMonkey (`fn@file:1:2`) or V8 (`at fn (file:1:2)`) writes it. */
function firstFrame(stack) {
  if (typeof stack !== 'string') return undefined;
  for (const line of stack.split('\n')) {
    const trimmed = line.trim();
    if (/^at /.test(trimmed)) return trimmed.slice(3);
    if (/@.*:\d+:\d+$/.test(trimmed)) return trimmed;
  }
  return undefined;
}

/**
 * The failure message for a value a hook threw: a `Fail`'s reason as it is; an
 * `EditError` as `edit refused: ...`; a `KvError` as its message; any other `Error` as
 * `Name: message (at frame)`; anything else as its text or JSON.
 */
export function describeThrown(error) {
  try {
    if (error instanceof Fail) return error.reason;
    if (error instanceof EditError) return `edit refused: ${error.message}`;
    if (error instanceof KvError) return error.message;
    if (error instanceof Error) {
      const frame = firstFrame(error.stack);
      return frame ? `${String(error)} (at ${frame})` : String(error);
    }
    if (typeof error === 'string') return error;
    if (typeof error === 'object' && error !== null) return JSON.stringify(error) ?? String(error);
    return String(error);
  } catch {
    return Object.prototype.toString.call(error);
  }
}
