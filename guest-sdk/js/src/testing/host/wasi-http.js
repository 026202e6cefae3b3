// `wasi:http/outgoing-handler` and `wasi:http/types` in node tests: just enough of the
// resources for the SDK's `http` helper, answered by `host.http`, a function
// `(method, url, headers, body) => ({status, headers, body} | {error: <error-code tag>})`
// (headers as [name, value] pairs, body a string or Uint8Array). Without one every call
// is refused as the proxy refuses a plugin without a grant: `HTTP-request-denied`. Calls
// are recorded in `host.httpCalls` as [method, url, headers, body text].
import { host, hostError } from '../state.js';

const text = (bytes) => new TextDecoder().decode(bytes);

export class Fields {
  constructor(entries = []) {
    this.list = entries;
  }
  static fromList(entries) {
    return new Fields(entries.map(([name, value]) => [name, value]));
  }
  entries() {
    return this.list;
  }
}

class Sink {
  constructor(parts) {
    this.parts = parts;
  }
  blockingWriteAndFlush(bytes) {
    this.parts.push(bytes);
  }
}

export class OutgoingBody {
  constructor() {
    this.parts = [];
  }
  write() {
    return new Sink(this.parts);
  }
  static finish(body) {
    body.finished = true;
  }
}

export class OutgoingRequest {
  constructor(fields) {
    this.fields = fields;
    this.outgoing = new OutgoingBody();
  }
  setMethod(method) {
    this.method = method.tag === 'other' ? method.val : method.tag.toUpperCase();
  }
  setScheme(scheme) {
    this.scheme = scheme.tag.toLowerCase();
  }
  setAuthority(authority) {
    this.authority = authority;
  }
  setPathWithQuery(path) {
    this.path = path;
  }
  body() {
    return this.outgoing;
  }
}

export class RequestOptions {
  setFirstByteTimeout(nanoseconds) {
    this.firstByte = nanoseconds;
  }
}

class Source {
  constructor(bytes) {
    this.bytes = bytes;
  }
  blockingRead() {
    if (this.bytes === undefined) throw hostError({ tag: 'closed' });
    const bytes = this.bytes;
    this.bytes = undefined;
    return bytes;
  }
}

export class IncomingBody {
  constructor(bytes) {
    this.bytes = bytes;
  }
  stream() {
    return new Source(this.bytes);
  }
  static finish() {
    return undefined;
  }
}

class IncomingResponse {
  constructor(answer) {
    this.answer = answer;
  }
  status() {
    return this.answer.status;
  }
  headers() {
    const encoder = new TextEncoder();
    return new Fields((this.answer.headers ?? []).map(([name, value]) => [name, encoder.encode(value)]));
  }
  consume() {
    const body = this.answer.body ?? '';
    return new IncomingBody(typeof body === 'string' ? new TextEncoder().encode(body) : body);
  }
}

class FutureIncomingResponse {
  constructor(request) {
    this.request = request;
  }
  get() {
    const { request } = this;
    const url = `${request.scheme}://${request.authority}${request.path}`;
    const headers = request.fields.entries().map(([name, value]) => [name, text(value)]);
    const body = request.outgoing.parts.map(text).join('');
    host.httpCalls.push([request.method, url, headers, body]);
    const answer = host.http ? host.http(request.method, url, headers, body) : { error: 'HTTP-request-denied' };
    if (answer.error) return { tag: 'ok', val: { tag: 'err', val: { tag: answer.error } } };
    return { tag: 'ok', val: { tag: 'ok', val: new IncomingResponse(answer) } };
  }
}

export function handle(request) {
  return new FutureIncomingResponse(request);
}
