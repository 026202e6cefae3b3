// Unit tests of the JavaScript SDK in node: no componentize-js, no host.
//
// loader.mjs resolves the host interfaces (`hookgate:plugin/*`) to the fakes in host/, so the
// SDK imports as it is; its exports are then driven the way the host drives a component.
// The text helpers are checked against the vectors every SDK shares,
// guest-sdk/conformance/text.json.
//
//     node --test guest-sdk/js/tests/sdk.test.mjs     (Node.js 20.6 or newer)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { register } from 'node:module';
import { describe, it, beforeEach } from 'node:test';

register('./loader.mjs', import.meta.url);
const sdk = await import('../src/index.js');
const { host } = await import('./host/state.mjs');
const { nfkc, UNICODE_VERSION } = await import('../src/nfkc.js');

const VECTORS = JSON.parse(readFileSync(new URL('../../conformance/text.json', import.meta.url), 'utf8'));

const KEY = { alias: 'team', hash: 'ab12', userId: undefined, teamId: 't1', metadata: '{"tier": "gold"}' };
const request = (body, headers = []) => ({
  id: 'req-1',
  callType: 'chat-completion',
  model: 'm',
  body: typeof body === 'string' ? body : JSON.stringify(body),
  headers,
  key: KEY,
});
const context = () => ({ id: 'req-1', callType: 'chat-completion', model: 'm', key: KEY });
const response = (body) => ({ status: 200, body: JSON.stringify(body), headers: [] });
const chunkText = (content, finish = null) =>
  JSON.stringify({ id: 'c', choices: [{ index: 0, delta: content === undefined ? {} : { content }, finish_reason: finish }] });

/** The edit a map_texts vector names. */
function editOf(spec) {
  if (spec.wrap) return (t) => spec.wrap[0] + t + spec.wrap[1];
  return (t) => t.replaceAll(spec.replace[0], spec.replace[1]);
}

/** What a world function threw (the WIT error side), or fails when it returned. */
function thrown(call) {
  try {
    call();
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to throw');
}

/** The world for a plugin class, with the host's config text set. */
function world(PluginClass, config = 'null') {
  host.reset(config);
  return sdk.exportPlugin(PluginClass);
}

/** A plugin whose hooks do what `Scripted.script[hook]` says: return it, or call it. */
class Scripted extends sdk.Plugin {
  static name = 'scripted';
  static version = '1.2.3';
  static script = {};
  static created = 0;

  constructor(config) {
    super(config);
    Scripted.created++;
    if (config.refuse) throw new Error('`refuse` is set');
  }

  run(hook, args) {
    const action = Scripted.script[hook];
    return typeof action === 'function' ? action(...args) : action;
  }

  preCall(...args) {
    return this.run('preCall', args);
  }
  moderation(...args) {
    return this.run('moderation', args);
  }
  postCallSuccess(...args) {
    return this.run('postCallSuccess', args);
  }
  postCallFailure(...args) {
    return this.run('postCallFailure', args);
  }
  streamChunk(...args) {
    return this.run('streamChunk', args);
  }
  streamEnd(...args) {
    return this.run('streamEnd', args);
  }
}

function scripted(script, config) {
  Scripted.script = script;
  Scripted.created = 0;
  return world(Scripted, config);
}

describe('exports', () => {
  it('describe lists exactly the hooks the class defines', () => {
    class OnlyLogs extends sdk.Plugin {
      logSuccess() {}
    }
    assert.deepEqual(world(OnlyLogs).describe(), { name: 'OnlyLogs', version: '0.0.0', hooks: ['log-success'] });
    assert.deepEqual(world(Scripted).describe(), {
      name: 'scripted',
      version: '1.2.3',
      hooks: ['pre-call', 'moderation', 'post-call-success', 'post-call-failure', 'stream-chunk', 'stream-end'],
    });
    class Fewer extends Scripted {
      static hooks = ['preCall'];
    }
    assert.deepEqual(world(Fewer).describe().hooks, ['pre-call']);
    class Misspelled extends sdk.Plugin {
      pre_call() {}
    }
    assert.throws(() => world(Misspelled), /did you mean preCall/);
  });

  it('maps pre-call outcomes onto the WIT variant', () => {
    const req = request({ model: 'm' });
    assert.deepEqual(scripted({ preCall: undefined }).preCall(req), { tag: 'proceed' });
    assert.deepEqual(scripted({ preCall: sdk.proceed() }).preCall(req), { tag: 'proceed' });
    assert.deepEqual(scripted({ preCall: sdk.modify({ model: 'x' }) }).preCall(req), { tag: 'modify', val: '{"model":"x"}' });
    assert.deepEqual(scripted({ preCall: sdk.modify('{"a": 1}') }).preCall(req), { tag: 'modify', val: '{"a": 1}' });
    assert.deepEqual(scripted({ preCall: sdk.respond(42) }).preCall(req), { tag: 'respond', val: '42' });
  });

  it('maps post-call and chunk outcomes', () => {
    const req = request({});
    const resp = response({});
    assert.deepEqual(scripted({}).postCallSuccess(req, resp), { tag: 'proceed' });
    assert.deepEqual(scripted({ postCallSuccess: sdk.addHeaders({ 'X-A': 1 }) }).postCallSuccess(req, resp), {
      tag: 'modify',
      val: { body: undefined, headers: [['x-a', '1']] },
    });
    assert.deepEqual(scripted({ postCallSuccess: sdk.replaceBody({ ok: true }, [['X-B', 'b']]) }).postCallSuccess(req, resp), {
      tag: 'modify',
      val: { body: '{"ok":true}', headers: [['x-b', 'b']] },
    });
    const shout = (ctx, chunk) => {
      chunk.json.choices[0].delta.content = chunk.deltaText().toUpperCase();
      return sdk.replaceChunk(chunk);
    };
    const replaced = scripted({ streamChunk: shout }).streamChunk(context(), chunkText('hi'));
    assert.equal(replaced.tag, 'replace');
    assert.equal(JSON.parse(replaced.val).choices[0].delta.content, 'HI');
    assert.deepEqual(scripted({ streamChunk: sdk.dropChunk() }).streamChunk(context(), chunkText('x')), { tag: 'drop' });
    assert.deepEqual(scripted({}).streamChunk(context(), chunkText('x')), { tag: 'proceed' });
  });

  it('throws a Rejection as the error side, with its status, message and code', () => {
    const rejection = sdk.Rejection.badRequest('no secrets', 'secret');
    const calls = {
      preCall: (w) => w.preCall(request({})),
      moderation: (w) => w.moderation(request({})),
      postCallSuccess: (w) => w.postCallSuccess(request({}), response({})),
      postCallFailure: (w) => w.postCallFailure(request({}), { status: 502, errorType: 'api_error', message: 'down' }),
      streamChunk: (w) => w.streamChunk(context(), chunkText('x')),
      streamEnd: (w) => w.streamEnd(context(), 'text'),
    };
    for (const [hook, call] of Object.entries(calls)) {
      const w = scripted({
        [hook]: () => {
          throw rejection;
        },
      });
      assert.deepEqual(thrown(() => call(w)), { status: 400, message: 'no secrets', code: 'secret' }, hook);
    }
    assert.deepEqual({ ...sdk.Rejection.forbidden('no').withCode('x') }, { name: 'Rejection', status: 403, code: 'x' });
    assert.equal(sdk.Rejection.tooManyRequests('slow').status, 429);
  });

  it('turns any other exception, fail(), a KvError or a wrong outcome into a fault (status 0)', () => {
    const faults = [
      [() => null.x, /^TypeError/],
      [() => sdk.fail('kv is down'), /^kv is down$/],
      [() => {
        throw new sdk.KvError('unavailable', 'redis');
      }, /^kv store unavailable: redis$/],
      [() => {
        throw 'a string'; // eslint-disable-line no-throw-literal
      }, /^a string$/],
      [() => sdk.dropChunk(), /returned dropChunk\(\); expected nothing, proceed\(\), modify/],
      [async () => undefined, /returned a Promise/],
    ];
    for (const [preCall, message] of faults) {
      const error = thrown(() => scripted({ preCall }).preCall(request({})));
      assert.equal(error.status, 0);
      assert.match(error.message, message);
      assert.equal(error.code, undefined);
    }
  });

  it('answers hooks the class does not define without creating it', () => {
    class OnlyPreCall extends sdk.Plugin {
      preCall() {
        return sdk.respond('hi');
      }
    }
    const w = world(OnlyPreCall);
    assert.deepEqual(w.streamChunk(context(), chunkText('x')), { tag: 'proceed' });
    assert.equal(w.moderation(request({})), undefined);
    assert.deepEqual(w.preCall(request({})), { tag: 'respond', val: 'hi' });
  });

  it('init parses the config and refuses a bad one with a message', () => {
    const w = scripted({});
    assert.equal(w.init('{"limit": 3}'), undefined);
    assert.equal(w.init('null'), undefined);
    assert.equal(thrown(() => w.init('{"refuse": true}')), '`refuse` is set');
    assert.match(thrown(() => w.init('{not json')), /^invalid config: not JSON: /);
  });

  it('creates the plugin once per instance, from the host config', () => {
    const seen = [];
    const w = scripted({ preCall: () => undefined, streamEnd: (ctx, text) => seen.push([ctx.id, text]) }, '{"a": 1}');
    w.preCall(request({}));
    w.streamEnd(context(), 'done');
    assert.equal(Scripted.created, 1);
    assert.deepEqual(seen, [['req-1', 'done']]);
    const refused = scripted({}, '{"refuse": true}');
    assert.match(thrown(() => refused.preCall(request({}))).message, /refused at request time the config it accepted at load/);
  });

  it('logging hooks get the payload parsed and as text; a throw traps after a log line', () => {
    const got = [];
    class Logger extends sdk.Plugin {
      logSuccess(payload, raw) {
        got.push([payload, raw]);
      }
      logFailure() {
        throw new Error('boom');
      }
    }
    const w = world(Logger);
    w.logSuccess('{"id": "r1"}');
    assert.deepEqual(got, [[{ id: 'r1' }, '{"id": "r1"}']]);
    assert.throws(() => w.logFailure('{}'), /boom/);
    assert.equal(host.lines.length, 1);
    assert.match(host.lines[0][1], /^logFailure failed: uncaught exception: Error: boom/);
  });
});

describe('what hooks read', () => {
  it('Request: fields, headers, json, texts', () => {
    const req = new sdk.Request(request({ messages: [{ role: 'user', content: 'hi' }] }, [['x-team', 'blue']]));
    assert.equal(req.header('X-Team'), 'blue');
    assert.equal(req.header('x-other'), undefined);
    assert.equal(req.json, req.json);
    assert.deepEqual(req.texts(), ['hi']);
    assert.deepEqual(req.key.metadata, { tier: 'gold' });
    assert.equal(req.key.teamId, 't1');
    assert.deepEqual(new sdk.Request(request('not json')).texts(), []);
  });

  it('mapTexts returns a new body and leaves req.json alone', () => {
    const req = new sdk.Request(request({ messages: [{ role: 'user', content: 'a secret' }, { role: 'user', content: 'b' }] }));
    const before = JSON.stringify(req.json);
    const body = req.mapTexts((t) => t.replace('secret', '***'));
    assert.deepEqual(body, { messages: [{ role: 'user', content: 'a ***' }, { role: 'user', content: 'b' }] });
    assert.equal(JSON.stringify(req.json), before);
    assert.equal(body.messages[1], req.json.messages[1], 'unchanged parts are shared, not copied');
    assert.equal(req.mapTexts((t) => t), undefined);
    assert.throws(() => req.mapTexts(() => 5), /must return a string/);
  });

  it('Response, Chunk, CallContext, Failure', () => {
    const resp = new sdk.Response(response({ choices: [{ message: { content: 'x' } }] }));
    assert.deepEqual(resp.texts(), ['x']);
    const chunk = new sdk.Chunk(chunkText('Hel'));
    assert.equal(chunk.deltaText(), 'Hel');
    assert.equal(chunk.finishReason, undefined);
    assert.deepEqual(chunk.texts(), ['Hel']);
    const last = new sdk.Chunk(chunkText(undefined, 'stop'));
    assert.equal(last.deltaText(), undefined);
    assert.equal(last.finishReason, 'stop');
    assert.equal(new sdk.Chunk('not json').deltaText(), undefined);
    assert.equal(new sdk.CallContext(context()).key.alias, 'team');
    assert.equal(new sdk.Failure({ status: 503, errorType: 'api_error', message: 'm', code: undefined }).errorType, 'api_error');
  });

  it('log joins its values like console.log', () => {
    host.reset();
    sdk.log.info('hello', { a: 1 }, 2n, new Error('x'));
    sdk.log.warn('w');
    assert.deepEqual(host.lines, [['info', 'hello {"a":1} "2" Error: x'], ['warn', 'w']]);
  });

  it('config() is the parsed config, null when none', () => {
    host.reset('{"a": 1}');
    assert.deepEqual(sdk.config(), { a: 1 });
    host.reset('null');
    assert.equal(sdk.config(), null);
  });
});

describe('kv', () => {
  beforeEach(() => host.reset());

  it('passes calls through, with TTLs in whole milliseconds', () => {
    sdk.kv.set('a', 'x', 1500.2);
    assert.equal(sdk.kv.get('a'), 'x');
    assert.equal(sdk.kv.get('missing'), undefined);
    assert.equal(sdk.kv.incr('n', 2), 2);
    assert.equal(sdk.kv.incr('n'), 3);
    sdk.kv.set('b', 7);
    assert.equal(sdk.kv.delete('a'), true);
    assert.equal(sdk.kv.delete('a'), false);
    assert.deepEqual(host.calls[0], ['set', 'a', 'x', 1501n]);
    assert.deepEqual(host.calls[3], ['incr', 'n', 2n, undefined]);
    assert.deepEqual(host.calls[5], ['set', 'b', '7', undefined]);
    assert.throws(() => sdk.kv.set('a', {}), TypeError);
    assert.throws(() => sdk.kv.set('a', 'x', 0), RangeError);
    assert.throws(() => sdk.kv.incr('n', 1.5), RangeError);
    assert.throws(() => sdk.kv.get(5), TypeError);
  });

  it('maps the kv-error variant onto KvError', () => {
    host.kvError = { tag: 'unavailable', val: 'redis down' };
    let error = thrown(() => sdk.kv.incr('n'));
    assert.ok(error instanceof sdk.KvError);
    assert.equal(error.kind, 'unavailable');
    assert.equal(error.unavailable, true);
    assert.equal(error.message, 'kv store unavailable: redis down');
    host.kvError = { tag: 'invalid', val: 'not an integer' };
    error = thrown(() => sdk.kv.get('n'));
    assert.equal(error.unavailable, false);
    assert.equal(error.message, 'invalid kv call: not an integer');
  });
});

describe('conformance (guest-sdk/conformance/text.json)', () => {
  it('request texts', () => {
    for (const { name, body, texts } of VECTORS.request) {
      assert.deepEqual(new sdk.Request(request(body)).texts(), texts, name);
      assert.deepEqual(sdk.requestTexts(body), texts, name);
    }
  });

  it('mapTexts visits exactly the texts, in order', () => {
    for (const { name, body, texts } of VECTORS.request) {
      const seen = [];
      assert.equal(sdk.mapRequestTexts(body, (t) => (seen.push(t), t)), undefined, name);
      assert.deepEqual(seen, texts, name);
    }
  });

  it('mapTexts', () => {
    for (const { name, body, edit, result } of VECTORS.map_texts) {
      const got = new sdk.Request(request(body)).mapTexts(editOf(edit));
      // Compared as text: key order is part of the promise.
      assert.equal(JSON.stringify(got ?? null), JSON.stringify(result), name);
    }
  });

  it('response and chunk texts, deltaText', () => {
    for (const { name, body, texts } of VECTORS.response) {
      assert.deepEqual(new sdk.Response(response(body)).texts(), texts, name);
    }
    for (const { name, chunk, texts, delta_text: deltaText } of VECTORS.chunk) {
      const parsed = new sdk.Chunk(JSON.stringify(chunk));
      assert.deepEqual(parsed.texts(), texts, name);
      assert.equal(parsed.deltaText(), deltaText ?? undefined, name);
    }
  });

  it('normalize, also without String.prototype.normalize (as in a component)', () => {
    const native = String.prototype.normalize;
    delete String.prototype.normalize;
    try {
      for (const { name, input, output } of VECTORS.normalize) {
        assert.equal(sdk.normalize(input), output, name);
        assert.equal(sdk.normalize(output), output, `${name}: idempotent`);
      }
    } finally {
      String.prototype.normalize = native; // eslint-disable-line no-extend-native
    }
  });

  it('character classes', () => {
    for (const ch of VECTORS.white_space.yes) assert.ok(sdk.isWhiteSpace(ch), JSON.stringify(ch));
    for (const ch of VECTORS.white_space.no) assert.ok(!sdk.isWhiteSpace(ch), JSON.stringify(ch));
    for (const ch of VECTORS.default_ignorable.yes) assert.ok(sdk.isDefaultIgnorable(ch), JSON.stringify(ch));
    for (const ch of VECTORS.default_ignorable.no) assert.ok(!sdk.isDefaultIgnorable(ch), JSON.stringify(ch));
  });
});

describe('nfkc', () => {
  it(`agrees with ICU on every code point both know (tables: Unicode ${UNICODE_VERSION}, node: ${process.versions.unicode})`, () => {
    const disagree = [];
    for (let cp = 0; cp < 0x110000; cp++) {
      if (cp >= 0xd800 && cp < 0xe000) continue;
      const ch = String.fromCodePoint(cp);
      const ours = nfkc(ch);
      const icu = ch.normalize('NFKC');
      // A character one of the two Unicode versions does not have yet is left as it is.
      if (ours !== icu && ours !== ch && icu !== ch) disagree.push(cp.toString(16));
    }
    assert.deepEqual(disagree, []);
    assert.equal(nfkc('e\u0301\u0323'), '\u1eb9\u0301');
    assert.equal(nfkc('\u1100\u1161\u11a8'), '\uac01');
  });
});
