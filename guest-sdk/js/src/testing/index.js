// hookgate-sdk/testing: unit-test a plugin in plain node, without building a component.
//
//     // my-plugin/plugin.test.mjs; run: node --import <sdk>/src/testing/register.js --test my-plugin/
//     import assert from 'node:assert/strict';
//     import { test } from 'node:test';
//     import { Rejection } from 'hookgate-sdk';
//     import { localRequest } from 'hookgate-sdk/testing';
//     import Polite from './plugin.js';
//
//     test('rejects rude requests', () => {
//       const plugin = new Polite(null);
//       const req = localRequest({ model: 'm', messages: [{ role: 'user', content: 'darn it' }] });
//       assert.throws(() => plugin.preCall(plugin.newCtx(), req), Rejection);
//     });
//
// `localRequest(body)`, `localResponse(body)` and `localChunk(body)` make the SDK's
// `Request`, `Response` and `Chunk` over local stand-ins of the host's resources: texts
// (with their paths, items and roles), fields, edits and headers behave as in the proxy
// (except that edits apply at once, and no size limit applies). `host` is the fake host
// behind `log`, `kv` and `config` (register.js points the SDK's imports at it): set
// `host.config`, read `host.lines`, inspect `host.store`. `component(PluginClass)` drives
// a class through the exports a component would have, per-request contexts included.

import { Chunk, Request, Response } from '../content.js';
import { exportPlugin } from '../export.js';
import { LocalChunk, LocalDoc, LocalRequest, LocalResponse } from './local.js';
import { host, hostError } from './state.js';
import { texts, setTexts } from './walk.js';

export { host, hostError, LocalDoc, LocalRequest, LocalResponse, LocalChunk, texts, setTexts };

const CALL_TYPES = { chat_completion: 'chat-completion', text_completion: 'text-completion', embedding: 'embedding' };

/**
 * A `call-context` as the host passes it: request id `test-request`, a chat completion,
 * key alias `test`, not streamed, unless `options` say otherwise: `{id, callType
 * ('chat_completion', 'text_completion', 'embedding' or another endpoint's name), stream,
 * key: {alias, id, userId, teamId, metadata (an object or JSON text)}}`.
 */
export function callContext({ id = 'test-request', callType = 'chat_completion', stream = false, key = {} } = {}) {
  const tag = CALL_TYPES[callType] ?? (Object.values(CALL_TYPES).includes(callType) ? callType : undefined);
  const metadata = key.metadata === undefined ? '{}' : typeof key.metadata === 'string' ? key.metadata : JSON.stringify(key.metadata);
  return {
    requestId: id,
    callType: tag ? { tag } : { tag: 'other', val: String(callType) },
    key: {
      alias: key.alias === undefined ? 'test' : key.alias ?? undefined,
      id: key.id ?? '0'.repeat(64),
      userId: key.userId ?? undefined,
      teamId: key.teamId ?? undefined,
      metadata,
    },
    stream: Boolean(stream),
  };
}

/**
 * A `Request` over `body` (a JSON object), as a hook gets it. `options`: those of
 * `callContext`, `headers` (`[name, value]` pairs), `readOnly` (as in every hook but
 * preCall: edits throw `EditError` `read-only`).
 */
export function localRequest(body, { headers = [], readOnly = false, ...call } = {}) {
  return new Request(callContext(call), new LocalRequest(body, { headers, readOnly }));
}

/** A `Response` over `body`: `options` `status` (200), `headers`, `readOnly`. */
export function localResponse(body, { status = 200, headers = [], readOnly = false } = {}) {
  return new Response(new LocalResponse(body, { status, headers, readOnly }));
}

/** A `Chunk` over `body` (one `chat.completion.chunk`, or a text completion chunk): `options` `readOnly`. */
export function localChunk(body, { readOnly = false } = {}) {
  return new Chunk(new LocalChunk(body, { readOnly }));
}

/** A failure as postCallFailure gets it: a 500 `api_error` unless `fields` say otherwise. */
export function failure(fields = {}) {
  return { status: 500, errorType: 'api_error', message: 'upstream failed', code: null, rejectedBy: null, ...fields };
}

/**
 * A log entry as the logging hooks get it: a 200 for model `m` with no usage, cost or
 * decisions, unless `fields` say otherwise (`usage: {promptTokens, completionTokens,
 * totalTokens}`, `failure: failure({...})`, ...).
 */
export function logEntry(fields = {}) {
  const now = Date.now() / 1000;
  return {
    model: 'm',
    modelUsed: null,
    apiBase: null,
    endUser: null,
    statusCode: 200,
    usage: null,
    responseCost: null,
    startTime: now,
    endTime: now,
    completionStartTime: null,
    failure: null,
    decisions: [],
    truncated: [],
    ...fields,
  };
}

/**
 * `PluginClass` driven through the exports a component of it would have: `describe()`,
 * `init(configText)`, `hooks` (the methods it defines), and one function per hook taking
 * the SDK's values (`preCall(req)`, `postCallSuccess(req, resp)`, `streamChunk(req,
 * chunk)`, `logSuccess(req, resp, entry)`, ...) and returning the contract's result
 * (`{tag: 'ok', val}` or `{tag: 'err', val}`). One plugin object for all calls (as one
 * instance), and a fresh `newCtx()` whenever a request's id differs from the last one's.
 * `config` (a value, or JSON text) is what the fake host's `config.get` returns.
 */
export function component(PluginClass, { config } = {}) {
  if (config !== undefined) host.config = typeof config === 'string' ? config : JSON.stringify(config);
  const { exported, interfaces, hooks } = exportPlugin(PluginClass);
  const call = (req) => req._call;
  const handle = (value) => value._handle;
  const missing = (method) => () => {
    throw new TypeError(`${exported.name} does not define ${method}: a component of it would not export it`);
  };
  const hook = (method, args) => (interfaces[method] ? (...values) => interfaces[method][method](...args(...values)) : missing(method));
  return {
    exported,
    hooks,
    describe: () => interfaces.setup.describe(),
    init: (text = host.config) => interfaces.setup.init(text),
    preCall: hook('preCall', (req) => [call(req), handle(req)]),
    moderation: hook('moderation', (req) => [call(req), handle(req)]),
    postCallSuccess: hook('postCallSuccess', (req, resp) => [call(req), handle(req), handle(resp)]),
    postCallFailure: hook('postCallFailure', (req, fail = failure()) => [call(req), handle(req), fail]),
    streamChunk: hook('streamChunk', (req, chunk) => [call(req), handle(req), handle(chunk)]),
    streamEnd: hook('streamEnd', (req, text) => [call(req), handle(req), text]),
    logSuccess: hook('logSuccess', (req, resp, entry = logEntry()) => [call(req), handle(req), handle(resp), entry]),
    logFailure: hook('logFailure', (req, entry = logEntry({ statusCode: 500, failure: failure() })) => [call(req), handle(req), entry]),
  };
}
