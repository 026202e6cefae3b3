// Outbound HTTP: call another service from a hook, through `wasi:http`.
//
// The proxy refuses every call unless its operator granted the plugin destinations
// (`plugins.outbound.<plugin>` in the proxy config: scheme, host, port and path prefix).
// Calls are bounded by the hook's deadline and the grant's caps, and redirects are not
// followed (a 3xx comes back as the answer).
//
// Secrets are never handed to the plugin: write `${secret:<name>}` in a header value or
// the body, and the proxy fills in the secret the operator bound under that name after
// the request leaves the plugin, only for allowed destinations.
//
//     import { http, HttpError } from 'hookgate-sdk';
//     const answer = http.post('https://guard.internal/analyze/prompt',
//       { 'content-type': 'application/json' }, JSON.stringify({ prompt }), { timeoutMs: 2000 });
//     // answer.status, answer.headers ([name, value] pairs), answer.text(), answer.json()
//
// Calls are synchronous, like every hook. Errors are `HttpError` with `kind` one of
// `denied`, `timeout`, `too_large`, `unreachable`, `failed`: the kinds and names of the
// Rust and Python SDKs.

import { handle } from 'wasi:http/outgoing-handler@0.2.12';
import { Fields, IncomingBody, OutgoingBody, OutgoingRequest, RequestOptions } from 'wasi:http/types@0.2.12';

/** Why a call got no answer; `kind` is `denied`, `timeout`, `too_large`, `unreachable` or `failed`. */
export class HttpError extends Error {
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.name = 'HttpError';
    this.kind = kind;
    this.detail = message;
  }
}

/** An answer: `status`, `headers` ([name, value] pairs, names lower-case) and the whole `body` (a Uint8Array). */
export class HttpResponse {
  constructor(status, headers, body) {
    this.status = status;
    this.headers = headers;
    this.body = body;
  }

  /** The first header named `name` (case-insensitive). */
  header(name) {
    const wanted = name.toLowerCase();
    return this.headers.find(([key]) => key.toLowerCase() === wanted)?.[1];
  }

  /** The body as text. */
  text() {
    return new TextDecoder().decode(this.body);
  }

  /** The body parsed as JSON; an `HttpError` `failed` when it is not. */
  json() {
    try {
      return JSON.parse(this.text());
    } catch (error) {
      throw new HttpError('failed', `the answer is not JSON: ${error.message}`);
    }
  }
}

const dispose = (resource) => resource?.[Symbol.dispose]?.();

function split(url) {
  const match = /^(https?):\/\/([^/?]+)(.*)$/i.exec(String(url));
  if (!match) throw new HttpError('failed', `${JSON.stringify(url)} is not an http:// or https:// URL`);
  return { https: match[1].toLowerCase() === 'https', authority: match[2], path: match[3] || '/' };
}

const DENIED = {
  'HTTP-request-denied': "the destination is not in this plugin's outbound grant (see the proxy log)",
  'destination-IP-prohibited': "the destination's address is forbidden to plugins (see the proxy log)",
  'connection-limit-reached': "more calls than the plugin's grant allows (see the proxy log)",
};
const TIMEOUT = new Set(['HTTP-response-timeout', 'connection-timeout', 'connection-read-timeout']);
const TOO_LARGE = new Set(['HTTP-request-body-size', 'HTTP-response-body-size']);
const UNREACHABLE = new Set([
  'connection-refused',
  'DNS-error',
  'destination-not-found',
  'destination-unavailable',
  'destination-IP-unroutable',
]);

/** The `HttpError` of a `wasi:http` `error-code`, as every SDK maps it. */
function fromCode(code) {
  const tag = code?.tag ?? String(code);
  if (tag in DENIED) return new HttpError('denied', DENIED[tag]);
  if (TIMEOUT.has(tag)) return new HttpError('timeout', 'no complete answer in time');
  if (TOO_LARGE.has(tag)) return new HttpError('too_large', "the request or the answer is over the grant's size cap");
  if (UNREACHABLE.has(tag)) return new HttpError('unreachable', tag);
  return new HttpError('failed', tag);
}

/**
 * A call with any method: `headers` an object or [name, value] pairs, `body` a string or
 * Uint8Array, `timeoutMs` bounding the wait for the answer. Returns an `HttpResponse`;
 * throws an `HttpError`.
 */
export function request(method, url, headers = {}, body = undefined, { timeoutMs } = {}) {
  const { https, authority, path } = split(url);
  const encoder = new TextEncoder();
  const pairs = (Array.isArray(headers) ? headers : Object.entries(headers ?? {})).map(([name, value]) => [
    String(name).toLowerCase(),
    encoder.encode(String(value)),
  ]);
  let fields;
  try {
    fields = Fields.fromList(pairs);
  } catch (error) {
    throw new HttpError('failed', `bad header: ${JSON.stringify(error?.payload ?? String(error))}`);
  }
  const outgoing = new OutgoingRequest(fields);
  const verb = String(method).toUpperCase();
  const known = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'];
  outgoing.setMethod(known.includes(verb) ? { tag: verb.toLowerCase() } : { tag: 'other', val: verb });
  outgoing.setScheme({ tag: https ? 'HTTPS' : 'HTTP' });
  outgoing.setAuthority(authority);
  outgoing.setPathWithQuery(path);
  const outgoingBody = outgoing.body();
  const options = new RequestOptions();
  if (timeoutMs !== undefined) options.setFirstByteTimeout(BigInt(Math.max(0, Math.floor(timeoutMs))) * 1_000_000n);
  let future;
  try {
    future = handle(outgoing, options);
  } catch (error) {
    throw fromCode(error?.payload);
  }
  const bytes = typeof body === 'string' ? encoder.encode(body) : (body ?? new Uint8Array());
  const stream = outgoingBody.write();
  try {
    for (let at = 0; at < bytes.length; at += 4096) stream.blockingWriteAndFlush(bytes.subarray(at, at + 4096));
  } catch {
    // The host refused the call; its answer says why.
  }
  dispose(stream);
  OutgoingBody.finish(outgoingBody, undefined);
  let answer = future.get();
  while (answer === undefined) {
    const ready = future.subscribe();
    ready.block();
    dispose(ready);
    answer = future.get();
  }
  dispose(future);
  if (answer.tag === 'err') throw new HttpError('failed', 'the answer was already taken');
  if (answer.val.tag === 'err') throw fromCode(answer.val.val);
  const response = answer.val.val;
  const decoder = new TextDecoder();
  const responseHeaders = response.headers().entries().map(([name, value]) => [name, decoder.decode(value)]);
  const status = response.status();
  const incoming = response.consume();
  const input = incoming.stream();
  const chunks = [];
  let length = 0;
  for (;;) {
    let chunk;
    try {
      chunk = input.blockingRead(65536n);
    } catch (error) {
      if (error?.payload?.tag === 'closed') break;
      throw new HttpError('failed', "the answer's body broke off");
    }
    chunks.push(chunk);
    length += chunk.length;
  }
  dispose(input);
  dispose(IncomingBody.finish(incoming));
  const whole = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.length;
  }
  return new HttpResponse(status, responseHeaders, whole);
}

/** `POST url` with `headers` and `body`. */
export const post = (url, headers, body, options) => request('POST', url, headers, body, options);

/** `GET url` with `headers`. */
export const get = (url, headers, options) => request('GET', url, headers, undefined, options);

/** The helper as one object: `http.post(...)`, `http.get(...)`, `http.request(...)`. */
export const http = Object.freeze({ post, get, request });
