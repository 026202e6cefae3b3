// Unit tests of the JavaScript SDK in plain node: no componentize-js, no host.
//
// src/testing/register.js points the host's interfaces (`hookgate:plugin/*`) at the fakes
// in src/testing/host/, so the SDK imports as it is; plugins are then driven through the
// very glue a component runs (src/export.js), over the local stand-ins of the `content`
// resources. The local stand-ins' texts, and `normalize`, are checked against the vectors
// every SDK and the host share, guest-sdk/conformance/text.json.
//
//     node --test guest-sdk/js/tests/sdk.test.mjs     (Node.js 20.6 or newer)

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it, beforeEach } from 'node:test';

await import('../src/testing/register.js');
const sdk = await import('hookgate-sdk');
const testing = await import('hookgate-sdk/testing');
const { exportPlugin } = await import('../src/export.js');
const { nfkc, UNICODE_VERSION } = await import('../src/nfkc.js');
const { normalizeAny } = await import('../src/text.js');
const { host, localRequest, localResponse, localChunk, component, callContext, logEntry, failure } = testing;

const VECTORS = JSON.parse(readFileSync(new URL('../../conformance/text.json', import.meta.url), 'utf8'));

const chat = (...contents) => ({ model: 'm', messages: contents.map((content) => ({ role: 'user', content })) });
const chunkOf = (...choices) => ({
  id: 'c',
  object: 'chat.completion.chunk',
  choices: choices.map(([content, finish = null], index) => ({ index, delta: content === undefined ? {} : { content }, finish_reason: finish })),
});
const ok = (val) => ({ tag: 'ok', val });
const failed = (message) => ({ tag: 'err', val: { tag: 'fail', val: message } });

/** What `call()` threw, or fails when it returned. */
function thrown(call) {
  try {
    call();
  } catch (error) {
    return error;
  }
  assert.fail('expected the call to throw');
}

/** A plugin whose hooks do what `Scripted.script[hook]` says: return it, or call it with the hook's arguments. */
class Scripted extends sdk.Plugin {
  static name = 'scripted';
  static version = '1.2.3';
  static script = {};
  static created = [];

  constructor(config) {
    super(config);
    Scripted.created.push(config);
    if (config?.refuse) throw new Error('`refuse` is set');
  }

  newCtx() {
    return { seen: [] };
  }

  run(hook, args) {
    args[0].seen.push(hook);
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
  logSuccess(...args) {
    return this.run('logSuccess', args);
  }
  logFailure(...args) {
    return this.run('logFailure', args);
  }
}

function scripted(script, options) {
  Scripted.script = script;
  Scripted.created = [];
  host.reset();
  return component(Scripted, options);
}

const ALL = ['preCall', 'moderation', 'postCallSuccess', 'postCallFailure', 'streamChunk', 'streamEnd', 'logSuccess', 'logFailure'];

/** Runs `hook` of a component `c` with arguments that fit it, for request `id`. */
function call(c, hook, id = 'r1') {
  const req = localRequest(chat('hi'), { id });
  const args = {
    preCall: [req],
    moderation: [req],
    postCallSuccess: [req, localResponse({ choices: [{ message: { content: 'a' } }] })],
    postCallFailure: [req, failure()],
    streamChunk: [req, localChunk(chunkOf(['x']))],
    streamEnd: [req, 'text'],
    logSuccess: [req, localResponse({ choices: [] }), logEntry()],
    logFailure: [req, logEntry({ statusCode: 500, failure: failure() })],
  }[hook];
  return c[hook](...args);
}

describe('exports', () => {
  it('export setup and exactly the hooks the class defines, below Plugin', () => {
    class OnlyLogs extends sdk.Plugin {
      logSuccess() {}
      helper() {}
    }
    const { interfaces, hooks } = exportPlugin(OnlyLogs);
    assert.deepEqual(hooks, ['logSuccess']);
    assert.deepEqual(Object.keys(interfaces), ['setup', 'logSuccess']);
    assert.deepEqual(interfaces.setup.describe(), { name: 'OnlyLogs', version: '0.0.0' });
    assert.deepEqual(exportPlugin(Scripted).hooks, ALL);
    class Child extends OnlyLogs {
      preCall() {}
    }
    assert.deepEqual(exportPlugin(Child).hooks, ['preCall', 'logSuccess'], 'inherited hooks count, in the contract order');
    assert.deepEqual(exportPlugin(class Bare extends sdk.Plugin {}).hooks, []);
  });

  it('refuses a misspelled hook, a class that is not one, and hooks that differ from the build', () => {
    class Misspelled extends sdk.Plugin {
      pre_call() {}
    }
    assert.throws(() => exportPlugin(Misspelled), /Misspelled.pre_call: .* did you mean preCall\?/);
    class Shouting extends sdk.Plugin {
      LogSuccess() {}
    }
    assert.throws(() => exportPlugin(Shouting), /did you mean logSuccess\?/);
    assert.throws(() => exportPlugin({ preCall() {} }), /must `export default` a class/);
    assert.throws(() => exportPlugin(Scripted, ['preCall']), /defines hooks .* at build time/);
  });

  it('init makes the plugin from the config: null when none, a message when refused', () => {
    const c = scripted({});
    assert.deepEqual(c.init('{"limit": 3}'), ok(undefined));
    assert.deepEqual(c.init('null'), ok(undefined));
    assert.deepEqual(c.init(''), ok(undefined));
    assert.deepEqual(Scripted.created, [{ limit: 3 }, null, null]);
    assert.deepEqual(c.init('{"refuse": true}'), { tag: 'err', val: '`refuse` is set' });
    assert.match(c.init('{not json').val, /^invalid config: not JSON: /);
    class ThrowsString extends sdk.Plugin {
      constructor(config) {
        super(config);
        throw 'no, thanks'; // eslint-disable-line no-throw-literal
      }
    }
    assert.deepEqual(component(ThrowsString).init('null'), { tag: 'err', val: 'no, thanks' });
  });

  it('makes one plugin per instance, from the host config, on the first hook', () => {
    const c = scripted({}, { config: { a: 1 } });
    for (const hook of ALL) assert.equal(call(c, hook).tag, 'ok', hook);
    assert.deepEqual(Scripted.created, [{ a: 1 }]);
    const refused = scripted({}, { config: { refuse: true } });
    for (const hook of ['preCall', 'moderation']) {
      const result = call(refused, hook);
      assert.equal(result.val.tag, 'fail');
      assert.match(result.val.val, /^plugin `scripted` refused at request time the config it accepted at load: Error: `refuse` is set/);
    }
    assert.match(call(refused, 'logSuccess').val, /^plugin `scripted` refused at request time/);
  });

  it('gives each request a fresh ctx, by request id, on one plugin object (instances: reuse)', () => {
    const ctxs = [];
    const c = scripted({ preCall: (ctx) => void ctxs.push(ctx), moderation: (ctx) => void ctxs.push(ctx), logSuccess: (ctx) => void ctxs.push(ctx) });
    call(c, 'preCall', 'a');
    call(c, 'moderation', 'a');
    call(c, 'preCall', 'b');
    call(c, 'logSuccess', 'b');
    call(c, 'preCall', 'a2');
    assert.equal(ctxs[0], ctxs[1], 'one request, one ctx');
    assert.notEqual(ctxs[1], ctxs[2], 'another request id, another ctx');
    assert.equal(ctxs[2], ctxs[3]);
    assert.deepEqual(ctxs.map((ctx) => ctx.seen), [['preCall', 'moderation'], ['preCall', 'moderation'], ['preCall', 'logSuccess'], ['preCall', 'logSuccess'], ['preCall']]);
    assert.equal(Scripted.created.length, 1, 'one plugin object for every request');
    // init replaces the plugin object and forgets the context.
    c.init('null');
    call(c, 'preCall', 'a2');
    assert.notEqual(ctxs[5], ctxs[4]);
  });

  it('newCtx defaults to {}; a throwing newCtx is a failure', () => {
    const seen = [];
    class Plain extends sdk.Plugin {
      preCall(ctx) {
        seen.push(ctx);
      }
    }
    const c = component(Plain);
    call(c, 'preCall');
    assert.deepEqual(seen, [{}]);
    class Broken extends sdk.Plugin {
      newCtx() {
        throw new Fail('no ctx');
      }
      preCall() {}
    }
    const { Fail } = sdk;
    assert.deepEqual(call(component(Broken), 'preCall'), failed('newCtx failed: no ctx'));
  });
});

describe('outcomes', () => {
  it('maps what fits each hook onto the contract', () => {
    assert.deepEqual(call(scripted({}), 'preCall'), ok({ tag: 'proceed' }));
    assert.deepEqual(call(scripted({ preCall: null }), 'preCall'), ok({ tag: 'proceed' }));
    assert.deepEqual(call(scripted({ preCall: sdk.respond('hi') }), 'preCall'), ok({ tag: 'respond', val: 'hi' }));
    assert.deepEqual(call(scripted({}), 'streamChunk'), ok('proceed'));
    assert.deepEqual(call(scripted({ streamChunk: sdk.drop() }), 'streamChunk'), ok('drop'));
    for (const hook of ['moderation', 'postCallSuccess', 'postCallFailure', 'streamEnd', 'logSuccess', 'logFailure']) {
      assert.deepEqual(call(scripted({}), hook), ok(undefined), hook);
    }
  });

  it('fails, naming the hook and the value, for a return value that does not fit', () => {
    assert.deepEqual(
      call(scripted({ moderation: sdk.respond('x') }), 'moderation'),
      failed('moderation returned respond("x"), which does not fit moderation: return nothing to approve, or throw a Rejection'),
    );
    assert.match(call(scripted({ preCall: sdk.drop() }), 'preCall').val.val, /^preCall returned drop\(\), which does not fit preCall: /);
    assert.match(call(scripted({ streamChunk: sdk.respond('x') }), 'streamChunk').val.val, /^streamChunk returned respond\("x"\)/);
    assert.match(call(scripted({ streamEnd: 42 }), 'streamEnd').val.val, /^streamEnd returned 42, which does not fit streamEnd/);
    assert.match(call(scripted({ preCall: { tag: 'proceed' } }), 'preCall').val.val, /^preCall returned \{"tag":"proceed"\}/);
    assert.match(call(scripted({ preCall: async () => undefined }), 'preCall').val.val, /returned a Promise.*hooks are synchronous/);
    assert.deepEqual(call(scripted({ logSuccess: 'x' }), 'logSuccess'), {
      tag: 'err',
      val: 'logSuccess returned "x", which does not fit logSuccess: return nothing',
    });
    assert.throws(() => sdk.respond(5), TypeError);
  });

  it('a thrown Rejection is a reject with its status, message and code', () => {
    const rejection = sdk.Rejection.badRequest('no secrets', 'secret');
    for (const hook of ['preCall', 'moderation', 'postCallSuccess', 'postCallFailure', 'streamChunk', 'streamEnd']) {
      const c = scripted({
        [hook]: () => {
          throw rejection;
        },
      });
      assert.deepEqual(call(c, hook), { tag: 'err', val: { tag: 'reject', val: { status: 400, message: 'no secrets', code: 'secret' } } }, hook);
    }
    const noCode = call(
      scripted({
        preCall: () => {
          throw sdk.Rejection.tooManyRequests('slow down');
        },
      }),
      'preCall',
    );
    assert.deepEqual(noCode.val.val, { status: 429, message: 'slow down', code: undefined });
    assert.deepEqual({ ...sdk.Rejection.forbidden('no').withCode('x') }, { name: 'Rejection', status: 403, code: 'x' });
  });

  it('anything else thrown is a fail with its message; the logging hooks fail with a string', () => {
    const cases = [
      [() => null.x, /^TypeError: .* \(at /],
      [() => sdk.fail('kv is down'), /^kv is down$/],
      [
        () => {
          throw new sdk.Fail('exactly this');
        },
        /^exactly this$/,
      ],
      [
        () => {
          throw new sdk.KvError('unavailable', 'redis');
        },
        /^kv store unavailable: redis$/,
      ],
      [
        () => {
          throw new sdk.EditError('read-only');
        },
        /^edit refused: this hook may not edit it$/,
      ],
      [
        () => {
          throw 'a string'; // eslint-disable-line no-throw-literal
        },
        /^a string$/,
      ],
      [
        () => {
          throw { why: 1 }; // eslint-disable-line no-throw-literal
        },
        /^\{"why":1\}$/,
      ],
    ];
    for (const [action, message] of cases) {
      const result = call(scripted({ preCall: action }), 'preCall');
      assert.equal(result.tag, 'err');
      assert.equal(result.val.tag, 'fail');
      assert.match(result.val.val, message);
      const logged = call(scripted({ logFailure: action }), 'logFailure');
      assert.equal(typeof logged.val, 'string');
      assert.match(logged.val, message);
    }
    const rejected = call(
      scripted({
        logSuccess: () => {
          throw sdk.Rejection.badRequest('no');
        },
      }),
      'logSuccess',
    );
    assert.deepEqual(rejected, { tag: 'err', val: 'logSuccess threw Rejection(400, "no"): the logging hooks cannot reject' });
  });
});

describe('what hooks read', () => {
  beforeEach(() => host.reset());

  it('Request: id, callType, stream, model, key, headers, fields, body', () => {
    const req = localRequest(
      { model: 'gpt', temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] },
      { id: 'req-9', stream: true, headers: [['X-Team', 'blue']], key: { alias: 'team', userId: 'u1', metadata: { tier: 'gold' } } },
    );
    assert.equal(req.id, 'req-9');
    assert.equal(req.callType, 'chat_completion');
    assert.equal(req.stream, true);
    assert.equal(req.model, 'gpt');
    assert.equal(req.header('x-team'), 'blue');
    assert.equal(req.header('X-TEAM'), 'blue');
    assert.equal(req.header('x-other'), undefined);
    assert.deepEqual(req.headers(), [['x-team', 'blue']]);
    assert.deepEqual(req.fieldNames(), ['model', 'temperature', 'messages']);
    assert.equal(req.field('temperature'), '0.2');
    assert.equal(req.field('nope'), undefined);
    assert.deepEqual(req.json(), { model: 'gpt', temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] });
    assert.deepEqual(JSON.parse(req.body()), req.json());
    assert.deepEqual({ ...req.key.toJSON() }, { alias: 'team', id: '0'.repeat(64), userId: 'u1', teamId: null, metadata: { tier: 'gold' } });
  });

  it('callType: the three endpoints and any other by name', () => {
    for (const [tag, name] of [['chat-completion', 'chat_completion'], ['text-completion', 'text_completion'], ['embedding', 'embedding']]) {
      assert.equal(new sdk.Request({ ...callContext(), callType: { tag } }, null).callType, name);
    }
    assert.equal(new sdk.Request({ ...callContext(), callType: { tag: 'other', val: 'responses' } }, null).callType, 'responses');
    assert.equal(localRequest(chat('x'), { callType: 'responses' }).callType, 'responses');
  });

  it('key metadata is parsed once, on first use; {} when none or not an object', () => {
    const key = (metadata) => new sdk.Request({ ...callContext(), key: { id: 'k', metadata } }, null).key;
    const gold = key('{"tier": "gold", "n": 2}');
    assert.deepEqual(gold.metadata, { tier: 'gold', n: 2 });
    assert.equal(gold.metadata, gold.metadata, 'parsed once');
    for (const none of ['{}', '', 'not json', '[1, 2]', 'null', '"x"', undefined]) assert.deepEqual(key(none).metadata, {}, String(none));
    const bare = key('{}');
    assert.equal(bare.alias, null);
    assert.equal(bare.userId, null);
    assert.equal(bare.teamId, null);
  });

  it('texts carry text, path, isKey, item and role; String(text) is the text', () => {
    const req = localRequest({
      model: 'm',
      messages: [
        { role: 'system', content: 'rules' },
        { role: 'user', name: 'ann', content: [{ type: 'text', text: 'hi' }] },
      ],
      tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
    });
    const texts = req.texts();
    assert.deepEqual(
      texts.map((t) => ({ ...t })),
      [
        { text: 'rules', path: '/messages/0/content', isKey: false, item: 0, role: 'system' },
        { text: 'ann', path: '/messages/1/name', isKey: false, item: 1, role: 'user' },
        { text: 'hi', path: '/messages/1/content/0/text', isKey: false, item: 1, role: 'user' },
        { text: 'f', path: '/tools/0/function/name', isKey: false, item: null, role: null },
        { text: 'object', path: '/tools/0/function/parameters/type', isKey: false, item: null, role: null },
        { text: 'city', path: '/tools/0/function/parameters/properties/city', isKey: true, item: null, role: null },
        { text: 'string', path: '/tools/0/function/parameters/properties/city/type', isKey: false, item: null, role: null },
      ],
    );
    assert.equal(String(texts[0]), 'rules');
    assert.equal(`${texts[2]}!`, 'hi!');
    assert.equal(sdk.normalize(texts[0]), 'rules');
  });

  it('Response: status, texts, headers and setHeader', () => {
    const resp = localResponse({ choices: [{ message: { content: 'x', refusal: 'no' } }, { text: 'y' }] }, { status: 201, headers: [['x-served-by', 'a']] });
    assert.equal(resp.status, 201);
    assert.deepEqual(resp.texts().map(String), ['x', 'no', 'y']);
    assert.deepEqual(resp.texts().map((t) => [t.item, t.role]), [[0, 'assistant'], [0, 'assistant'], [1, 'assistant']]);
    resp.setHeader('X-Served-By', 'b');
    resp.setHeader('x-count', 3);
    assert.deepEqual(resp.headers(), [['x-served-by', 'b'], ['x-count', '3']]);
    assert.equal(resp.header('X-COUNT'), '3');
    assert.equal(thrown(() => resp.setHeader('content-length', '1')).kind, 'invalid');
    assert.equal(thrown(() => resp.setHeader('bad name', '1')).kind, 'invalid');
  });

  it('chunk.text() joins every choice\'s answer text; null when there is none', () => {
    assert.equal(localChunk(chunkOf(['Hel'], ['lo'], [' there'])).text(), 'Hello there');
    assert.equal(localChunk(chunkOf([undefined, 'stop'])).text(), null);
    assert.equal(localChunk(chunkOf([''])).text(), '', 'a role-only chunk with empty content');
    assert.equal(localChunk({ choices: [], usage: { total_tokens: 3 } }).text(), null);
    const mixed = localChunk({
      choices: [
        { index: 0, delta: { refusal: 'nope', tool_calls: [{ index: 0, function: { name: 'f', arguments: '{"a"' } }] } },
        { index: 1, delta: { content: [{ type: 'text', text: 'part' }] } },
        { index: 2, text: 'completion' },
      ],
    });
    assert.deepEqual(mixed.texts().map(String), ['nope', 'f', '{"a"', 'part', 'completion']);
    assert.equal(mixed.text(), 'partcompletion', 'refusals and tool calls are not answer text');
    assert.deepEqual(mixed.answerTexts().map((t) => t.item), [1, 2]);
  });

  it('chunk.finishReason and setContent', () => {
    const chunk = localChunk(chunkOf(['a'], [undefined, 'stop']));
    assert.equal(chunk.finishReason(0), null);
    assert.equal(chunk.finishReason(1), 'stop');
    assert.equal(chunk.finishReason(7), null);
    chunk.setContent(1, 'held back');
    assert.equal(chunk.text(), 'aheld back');
    const completion = localChunk({ choices: [{ index: 0, text: 'Once' }] });
    completion.setContent(0, 'Once upon');
    assert.deepEqual(completion.json(), { choices: [{ index: 0, text: 'Once upon' }] });
    assert.equal(thrown(() => completion.setContent(3, 'x')).kind, 'invalid');
    assert.throws(() => completion.setContent(0, 5), TypeError);
  });

  it('an edit writes every place a client reads and drops the choice\'s logprobs', () => {
    const tokens = { content: [{ token: 'ann@', logprob: -0.1 }] };
    const both = localChunk({ choices: [{ index: 0, delta: { content: 'ann@' }, text: '', logprobs: tokens }] });
    both.setContent(0, '[EMAIL]');
    assert.deepEqual(both.json().choices[0], { index: 0, delta: { content: '[EMAIL]' }, text: '[EMAIL]', logprobs: null });
    const resp = localResponse({
      choices: [
        { index: 0, message: { content: 'ann@x.io' }, logprobs: tokens },
        { index: 1, message: { content: 'fine' }, logprobs: tokens },
      ],
    });
    resp.mapTexts((text) => text.replace('ann@x.io', '[EMAIL]'));
    assert.deepEqual(resp.json().choices.map((c) => c.logprobs), [null, tokens]);
  });

  it('log joins its values like console.log', () => {
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

  it('the failure and the log entry, in camelCase with null for what is absent', () => {
    const seen = [];
    class Observer extends sdk.Plugin {
      postCallFailure(ctx, req, fail) {
        seen.push(fail);
      }
      logSuccess(ctx, req, resp, entry) {
        seen.push(entry);
      }
    }
    const c = component(Observer);
    const req = localRequest(chat('x'));
    c.postCallFailure(req, { status: 502, errorType: 'api_error', message: 'down', code: undefined, rejectedBy: undefined });
    const wit = {
      model: 'm',
      modelUsed: 'm-1',
      apiBase: undefined,
      endUser: undefined,
      statusCode: 200,
      usage: { promptTokens: 6n, completionTokens: 5n, totalTokens: 11n },
      responseCost: 0.5,
      startTime: 1,
      endTime: 2,
      completionStartTime: undefined,
      failure: undefined,
      decisions: [{ plugin: 'p', hook: 'pre-call', decision: 'proceed', cause: undefined, calls: 1, startedMs: 0.5, elapsedMs: 1.5 }],
      truncated: ['request'],
    };
    c.logSuccess(req, localResponse({ choices: [] }), wit);
    assert.deepEqual(seen[0], { status: 502, errorType: 'api_error', message: 'down', code: null, rejectedBy: null });
    assert.deepEqual(seen[1], {
      model: 'm',
      modelUsed: 'm-1',
      apiBase: null,
      endUser: null,
      statusCode: 200,
      usage: { promptTokens: 6, completionTokens: 5, totalTokens: 11 },
      responseCost: 0.5,
      startTime: 1,
      endTime: 2,
      completionStartTime: null,
      failure: null,
      decisions: [{ plugin: 'p', hook: 'pre-call', decision: 'proceed', cause: null, calls: 1, startedMs: 0.5, elapsedMs: 1.5 }],
      truncated: ['request'],
    });
    assert.doesNotThrow(() => JSON.stringify(seen[1]), 'no BigInt left');
  });
});

describe('edits', () => {
  it('setTexts, setText, mapTexts, setField, setBody', () => {
    const req = localRequest({ model: 'm', temperature: 0.2, messages: [{ role: 'user', content: 'a secret' }, { role: 'user', content: 'b' }] });
    req.setTexts([[1, 'B']]);
    req.setText(0, 'a SECRET');
    assert.deepEqual(req.texts().map(String), ['a SECRET', 'B']);
    const parts = [];
    assert.equal(req.mapTexts((t, part) => (parts.push(part.path), t.replace('SECRET', '***'))), true);
    assert.deepEqual(parts, ['/messages/0/content', '/messages/1/content']);
    assert.equal(req.mapTexts((t) => t), false);
    req.setField('max_tokens', '64');
    req.setField('temperature', undefined);
    assert.deepEqual(req.json(), { model: 'm', messages: [{ role: 'user', content: 'a ***' }, { role: 'user', content: 'B' }], max_tokens: 64 });
    req.setBody('{"model": "other", "messages": []}');
    assert.equal(req.model, 'other');
    assert.deepEqual(req.texts(), []);
  });

  it('a refused edit throws EditError and changes nothing', () => {
    const req = localRequest(chat('a', 'b'));
    let error = thrown(() => req.setTexts([[0, 'changed'], [5, 'x']]));
    assert.ok(error instanceof sdk.EditError);
    assert.equal(error.kind, 'no-such-text');
    assert.equal(error.detail, 5);
    assert.equal(error.message, 'no text at position 5');
    assert.deepEqual(req.texts().map(String), ['a', 'b']);
    error = thrown(() => req.setField('x', '{nope'));
    assert.equal(error.kind, 'invalid');
    assert.match(error.message, /^not valid JSON/);
    assert.equal(thrown(() => req.setBody('[1]')).message, 'the body must be a JSON object');
    const readOnly = localRequest(chat('a'), { readOnly: true });
    for (const edit of [() => readOnly.setText(0, 'x'), () => readOnly.setField('t', '1'), () => readOnly.setBody('{}'), () => readOnly.mapTexts(() => 'x')]) {
      error = thrown(edit);
      assert.ok(error instanceof sdk.EditError);
      assert.equal(error.kind, 'read-only');
      assert.equal(error.message, 'this hook may not edit it');
    }
    assert.equal(thrown(() => localResponse({ choices: [] }, { readOnly: true }).setHeader('x-a', '1')).kind, 'read-only');
    assert.equal(thrown(() => localChunk(chunkOf(['a']), { readOnly: true }).setContent(0, 'b')).kind, 'read-only');
  });

  it('the host\'s edit-error reaches the plugin as an EditError (too-large: bytes as a number)', () => {
    const tooLarge = { setTexts: () => { throw Object.assign(new Error('x'), { payload: { tag: 'too-large', val: 123n } }); }, texts: () => [] };
    const error = thrown(() => new sdk.Chunk(tooLarge).setTexts([[0, 'x']]));
    assert.equal(error.kind, 'too-large');
    assert.equal(error.detail, 123);
    assert.equal(error.message, "the edited body would be 123 bytes, over the plugin's max_output_bytes");
  });

  it('bad arguments are TypeErrors', () => {
    const req = localRequest(chat('a'));
    assert.throws(() => req.setTexts('nope'), TypeError);
    assert.throws(() => req.setTexts([[-1, 'x']]), TypeError);
    assert.throws(() => req.setTexts([[0, 5]]), TypeError);
    assert.throws(() => req.setField('t', 0.5), /JSON text/);
    assert.throws(() => req.setBody({}), /JSON text/);
    assert.throws(() => req.mapTexts(() => null), /must return a string, not null/);
  });

  it('an uncaught EditError fails the hook with `edit refused: ...`', () => {
    class Editor extends sdk.Plugin {
      moderation(ctx, req) {
        req.setText(0, 'x');
      }
    }
    const c = component(Editor);
    assert.deepEqual(c.moderation(localRequest(chat('a'), { readOnly: true })), failed('edit refused: this hook may not edit it'));
  });
});

describe('kv', () => {
  beforeEach(() => host.reset());

  it('passes calls through, with TTLs in whole milliseconds', () => {
    sdk.kv.set('a', 'x', 1500.2);
    assert.equal(sdk.kv.get('a'), 'x');
    assert.equal(sdk.kv.get('missing'), undefined);
    assert.equal(sdk.kv.incr('n', 2, 60_000), 2);
    assert.equal(sdk.kv.incr('n'), 3);
    sdk.kv.set('b', 7);
    assert.equal(sdk.kv.delete('a'), true);
    assert.equal(sdk.kv.delete('a'), false);
    assert.deepEqual(host.calls[0], ['set', 'a', 'x', 1501n]);
    assert.deepEqual(host.calls[3], ['incr', 'n', 2n, 60000n]);
    assert.deepEqual(host.calls[4], ['incr', 'n', 1n, undefined]);
    assert.deepEqual(host.calls[5], ['set', 'b', '7', undefined]);
    assert.throws(() => sdk.kv.set('a', {}), TypeError);
    assert.throws(() => sdk.kv.set('a', 'x', 0), RangeError);
    assert.throws(() => sdk.kv.set('a', 'x', -5), RangeError);
    assert.throws(() => sdk.kv.incr('n', 1.5), RangeError);
    assert.throws(() => sdk.kv.get(5), TypeError);
  });

  it('a TTL of 100 means 100 milliseconds', () => {
    let now = 1_000;
    host.now = () => now;
    sdk.kv.set('ttl', 'set', 100);
    now += 99;
    assert.equal(sdk.kv.get('ttl'), 'set');
    now += 1;
    assert.equal(sdk.kv.get('ttl'), undefined);
  });

  it('maps the kv-error variant onto KvError', () => {
    host.kvError = { tag: 'unavailable', val: 'redis down' };
    let error = thrown(() => sdk.kv.incr('n'));
    assert.ok(error instanceof sdk.KvError);
    assert.equal(error.kind, 'unavailable');
    assert.equal(error.unavailable, true);
    assert.equal(error.message, 'kv store unavailable: redis down');
    host.kvError = undefined;
    sdk.kv.set('s', 'x');
    error = thrown(() => sdk.kv.incr('s'));
    assert.equal(error.unavailable, false);
    assert.match(error.message, /^invalid kv call: /);
  });
});

describe('HoldBack', () => {
  it('holds back the last characters of a choice and releases them when it ends (the Rust doc test)', () => {
    const hold = new sdk.HoldBack(4);
    const first = localChunk({ choices: [{ index: 0, delta: { content: 'the sec' } }] });
    assert.deepEqual(hold.unsent(first), ['the sec']);
    hold.apply(first);
    assert.equal(first.text(), 'the');
    const second = localChunk({ choices: [{ index: 0, delta: { content: 'ret plan' } }] });
    assert.deepEqual(hold.unsent(second), [' secret plan']);
    hold.apply(second);
    assert.equal(second.text(), ' secret ');
    const last = localChunk({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    hold.apply(last);
    assert.equal(last.text(), 'plan');
  });

  it('keeps each choice apart, counts code points, and leaves a chunk alone when nothing changes', () => {
    const hold = new sdk.HoldBack(2);
    const first = localChunk(chunkOf(['ab😀c'], ['x']));
    assert.deepEqual(hold.unsent(first), ['ab😀c', 'x']);
    hold.apply(first);
    assert.deepEqual(first.answerTexts().map(String), ['ab', '']);
    assert.deepEqual(hold.held, ['😀c', 'x']);
    const role = localChunk({ choices: [{ index: 0, delta: { role: 'assistant' } }] });
    const before = role.body();
    hold.apply(role);
    assert.equal(role.body(), before, 'a chunk without answer text that ends nothing is not edited');
    assert.deepEqual(hold.unsent(role), ['😀c', 'x']);
    const end = localChunk(chunkOf(['d', 'stop'], [undefined, 'length']));
    hold.apply(end);
    assert.deepEqual(end.answerTexts().map(String), ['😀cd', 'x']);
    assert.deepEqual(hold.held, ['', '']);
    hold.held[0] = 'tail';
    assert.equal(hold.finish(0), 'tail');
    assert.equal(hold.finish(5), '');
  });

  it('follows the shared vectors (guest-sdk/conformance/text.json)', () => {
    for (const { name, window, text, kept } of VECTORS.hold_back) {
      const hold = new sdk.HoldBack(window);
      const chunk = localChunk({ choices: [{ index: 0, delta: { content: text } }] });
      hold.apply(chunk);
      const sent = chunk.text() ?? '';
      assert.equal(hold.finish(0), kept, name);
      assert.equal(sent + kept, text, `${name}: nothing lost`);
    }
  });

  it('an edit the host refuses is an EditError', () => {
    const hold = new sdk.HoldBack(1);
    const error = thrown(() => hold.apply(localChunk(chunkOf(['abc']), { readOnly: true })));
    assert.equal(error.kind, 'read-only');
    assert.throws(() => new sdk.HoldBack(-1), RangeError);
  });
});

describe('hookgate-sdk/testing stand-ins (guest-sdk/conformance/text.json)', () => {
  const editOf = (spec) => (spec.wrap ? (t) => spec.wrap[0] + t + spec.wrap[1] : (t) => t.replaceAll(spec.replace[0], spec.replace[1]));

  it('request texts', () => {
    for (const { name, body, texts } of VECTORS.request) assert.deepEqual(localRequest(body).texts().map(String), texts, name);
  });

  it('response and chunk texts, chunk.text()', () => {
    for (const { name, body, texts } of VECTORS.response) assert.deepEqual(localResponse(body).texts().map(String), texts, name);
    for (const { name, chunk, texts, delta_text: deltaText } of VECTORS.chunk) {
      const local = localChunk(chunk);
      assert.deepEqual(local.texts().map(String), texts, name);
      assert.equal(local.text(), deltaText, name);
    }
  });

  it('mapTexts visits exactly the texts, in order, and edits as the vectors say', () => {
    for (const { name, body, texts } of VECTORS.request) {
      const seen = [];
      assert.equal(localRequest(body).mapTexts((t) => (seen.push(t), t)), false, name);
      assert.deepEqual(seen, texts, name);
    }
    for (const { name, body, edit, result } of VECTORS.map_texts) {
      const req = localRequest(body);
      const changed = req.mapTexts(editOf(edit));
      // Compared as text: key order is part of the promise.
      assert.equal(changed ? req.body() : null, result === null ? null : JSON.stringify(result), name);
      assert.deepEqual(body, VECTORS.map_texts.find((v) => v.name === name).body, `${name}: the test's body is untouched`);
    }
  });

  it('every path points at its text (or, for a property name, at that property)', () => {
    const at = (value, path) => path.split('/').slice(1).map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~')).reduce((v, t) => v?.[t], value);
    for (const { name, body } of VECTORS.request) {
      for (const part of localRequest(body).texts()) {
        assert.notEqual(at(body, part.path), undefined, `${name}: ${part.path}`);
        if (part.isKey) assert.equal(part.path.split('/').at(-1).replaceAll('~1', '/').replaceAll('~0', '~'), part.text, name);
        else assert.equal(at(body, part.path), part.text, `${name}: ${part.path}`);
      }
    }
  });

  it('a property name is renamed in place; a collision keeps the first position with the later value', () => {
    const body = { model: 'm', tools: [{ type: 'function', function: { name: 'f', parameters: { properties: { a: { type: 'string' }, b: { type: 'integer' } } } } }] };
    const req = localRequest(body);
    const keyAt = (name) => req.texts().findIndex((t) => t.isKey && t.text === name);
    req.setText(keyAt('a'), 'z');
    assert.deepEqual(Object.keys(req.json().tools[0].function.parameters.properties), ['z', 'b']);
    req.setText(keyAt('z'), 'b');
    assert.deepEqual(req.json().tools[0].function.parameters.properties, { b: { type: 'integer' } });
  });

  it('a position past the end is refused and nothing changes', () => {
    const req = localRequest(chat('a'));
    assert.equal(thrown(() => req.setTexts([[0, 'b'], [1, 'c']])).kind, 'no-such-text');
    assert.deepEqual(req.json(), chat('a'));
  });
});

describe('normalize (guest-sdk/conformance/text.json)', () => {
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

  it('the ASCII shortcut is the general path', () => {
    // 50,000 pseudo-random ASCII strings, most of them letters and spaces (as prose is),
    // every ASCII character among them many times.
    let state = 7;
    const next = (n) => {
      state = (state * 1103515245 + 12345) % 2147483648;
      return state % n;
    };
    const alphabet = [...Array(128).keys()].map((c) => String.fromCharCode(c));
    alphabet.push(...Array(40).fill(' '), ...'AZaz.'.repeat(8));
    for (let i = 0; i < 50000; i++) {
      let text = '';
      for (let length = next(30); length > 0; length--) text += alphabet[next(alphabet.length)];
      assert.equal(sdk.normalize(text), normalizeAny(text), JSON.stringify(text));
    }
  });

  it('character classes', () => {
    for (const ch of VECTORS.white_space.yes) assert.ok(sdk.isWhiteSpace(ch), JSON.stringify(ch));
    for (const ch of VECTORS.white_space.no) assert.ok(!sdk.isWhiteSpace(ch), JSON.stringify(ch));
    for (const ch of VECTORS.default_ignorable.yes) assert.ok(sdk.isDefaultIgnorable(ch), JSON.stringify(ch));
    for (const ch of VECTORS.default_ignorable.no) assert.ok(!sdk.isDefaultIgnorable(ch), JSON.stringify(ch));
  });

  it(`nfkc agrees with ICU on every code point both know (tables: Unicode ${UNICODE_VERSION}, node: ${process.versions.unicode})`, () => {
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

describe('the JavaScript guests, tested in plain node with hookgate-sdk/testing', () => {
  const guest = async (path) => (await import(new URL(`../../../${path}`, import.meta.url))).default;

  it('cost-logger: one line per request from the request and the typed log entry', async () => {
    const CostLogger = await guest('plugins/cost-logger/plugin.js');
    host.reset();
    const c = component(CostLogger);
    assert.deepEqual(c.hooks, ['logSuccess']);
    assert.deepEqual(c.init('null'), ok(undefined));
    const entry = logEntry({ model: 'priced', modelUsed: 'priced-1', usage: { promptTokens: 6n, completionTokens: 5n, totalTokens: 11n }, responseCost: 0.016, startTime: 10, endTime: 10.0013594 });
    assert.deepEqual(c.logSuccess(localRequest(chat('x'), { id: 'r-1', key: { alias: 'master' } }), localResponse({ choices: [] }), entry), ok(undefined));
    assert.deepEqual(host.logged('info').map((line) => JSON.parse(line)), [
      { event: 'cost', request_id: 'r-1', model: 'priced', model_used: 'priced-1', key_alias: 'master', prompt_tokens: 6, completion_tokens: 5, total_tokens: 11, cost_usd: 0.016, latency_ms: 1.359 },
    ]);
    c.logSuccess(localRequest(chat('x'), { id: 'r-2', key: { alias: null } }), localResponse({}), logEntry({ startTime: 1, endTime: 1 }));
    const second = JSON.parse(host.logged('info')[1]);
    assert.deepEqual([second.key_alias, second.total_tokens, second.cost_usd, second.latency_ms], [null, null, null, 0]);
    assert.deepEqual(c.init('{"event": "spend"}'), ok(undefined));
    assert.deepEqual(c.init('{"evnt": "x"}'), { tag: 'err', val: 'invalid config: unknown field `evnt`, expected only `event`' });
    assert.deepEqual(c.init('[1]'), { tag: 'err', val: 'invalid config: expected an object like {"event": "cost"}' });
  });

  it('js-probe: REJECT, CRASH, and " [js]" on the last text', async () => {
    const JsProbe = await guest('tests/plugins-js/js-probe/plugin.js');
    const c = component(JsProbe);
    const req = localRequest({ model: 'm', messages: [{ role: 'system', content: 'rules' }, { role: 'user', content: 'hello' }] });
    assert.deepEqual(c.preCall(req), ok({ tag: 'proceed' }));
    assert.deepEqual(req.texts().map(String), ['rules', 'hello [js]']);
    assert.deepEqual(c.preCall(localRequest(chat('please REJECT'))).val, { tag: 'reject', val: { status: 400, message: 'js-probe rejects', code: 'js_probe' } });
    assert.match(c.preCall(localRequest(chat('CRASH now'))).val.val, /^TypeError: /);
    assert.deepEqual(c.preCall(localRequest({ model: 'm', input: [] })), ok({ tag: 'proceed' }));
  });

  it('parity: the trail of one request across hooks, and the reports', async () => {
    const Parity = await guest('tests/plugins-js/parity-js/plugin.js');
    host.reset();
    const c = component(Parity, { config: { x: 1 } });
    assert.equal(c.hooks.length, 8);
    const body = { model: 'gpt', temperature: 0.2, messages: [{ role: 'user', content: 'PARITY-STREAM' }] };
    const req = localRequest(body, { id: 'p-1', stream: true });
    assert.deepEqual(c.preCall(req), ok({ tag: 'proceed' }));
    assert.deepEqual(c.streamChunk(req, localChunk(chunkOf(['He'], ['llo']))), ok('proceed'));
    assert.deepEqual(c.streamChunk(req, localChunk(chunkOf([undefined, 'stop']))), ok('proceed'));
    const end = c.streamEnd(req, 'Hello');
    const report = JSON.parse(end.val.val.message);
    assert.equal(end.val.val.code, 'parity');
    assert.deepEqual(report, {
      hook: 'stream-end',
      same_request: true,
      trail: ['pre-call', 'stream-chunk', 'stream-chunk', 'stream-end'],
      instance_requests: 1,
      call_type: 'chat_completion',
      stream: true,
      model: 'gpt',
      key: { alias: 'test', id: '0'.repeat(64), user_id: null, team_id: null, metadata: {} },
      texts: [{ text: 'PARITY-STREAM', path: '/messages/0/content', is_key: false, item: 0, role: 'user' }],
      chunks: ['Hello', null],
      text: 'Hello',
    });
    // The next request on the same instance starts afresh.
    const next = localRequest({ ...body, messages: [{ role: 'user', content: 'PARITY-REPORT' }] }, { id: 'p-2', headers: [['x-parity', 'yes']] });
    const fresh = JSON.parse(c.preCall(next).val.val.message);
    assert.deepEqual([fresh.trail, fresh.same_request, fresh.config, fresh.fields, fresh.temperature, fresh.x_parity], [['pre-call'], true, { x: 1 }, ['model', 'temperature', 'messages'], '0.2', 'yes']);
    assert.match(c.moderation(localRequest(chat('PARITY-WRONG-OUTCOME'))).val.val, /^moderation returned respond\("x"\), which does not fit moderation/);
    assert.deepEqual(c.preCall(localRequest(chat('PARITY-FAIL'), { id: 'p-3' })), failed('parity fails on purpose'));
    const edit = localRequest(chat('PARITY-EDIT'), { id: 'p-4' });
    c.preCall(edit);
    assert.deepEqual(edit.json(), { ...chat('PARITY-EDIT [edited]'), temperature: 0.5 });
    assert.deepEqual(c.preCall(localRequest(chat('PARITY-RESPOND'), { id: 'p-5' })), ok({ tag: 'respond', val: 'parity answers' }));
    assert.deepEqual(c.preCall(localRequest(chat('PARITY-KV-SET'), { id: 'p-6' })), ok({ tag: 'proceed' }));
    assert.deepEqual(host.calls, [['set', 'ttl', 'set', 100n], ['set', 'kept', 'set', 60000n]]);
    assert.deepEqual(JSON.parse(c.preCall(localRequest(chat('PARITY-KV-GET'), { id: 'p-7' })).val.val.message), { kv: 'set', kept: 'set' });
    const resp = localResponse({ choices: [{ message: { content: 'answer' } }] });
    c.postCallSuccess(localRequest(chat('hi'), { id: 'p-8' }), resp);
    const header = JSON.parse(resp.header('x-parity'));
    assert.deepEqual([header.hook, header.status, header.response_texts], ['post-call-success', 200, ['answer']]);
    const failure = JSON.parse(c.postCallFailure(localRequest(chat('PARITY-RECOVER'), { id: 'p-9' })).val.val.message).failure;
    assert.deepEqual(failure, { status: 500, error_type: 'api_error', message: 'upstream failed', code: null, rejected_by: null });
    c.logFailure(localRequest(chat('hi'), { id: 'p-10' }), logEntry({ statusCode: 503, failure: testing.failure({ status: 503 }), decisions: [{}, {}] }));
    const line = JSON.parse(host.logged('info').at(-1).replace(/^parity-log /, ''));
    assert.deepEqual([line.hook, line.status_code, line.failure_status, line.usage_total, line.decisions, line.response_texts], ['log-failure', 503, 503, null, 2, undefined]);
  });
});

describe("the bench's JavaScript ports (bench/plugins-js), as test_examples.py tests the Python ones", () => {
  const port = async (name) => (await import(new URL(`../../../bench/plugins-js/${name}/plugin.js`, import.meta.url))).default;
  const rejected = (message, status, code) => ({ tag: 'err', val: { tag: 'reject', val: { status, message, code } } });
  const answer = (content) => localResponse({ choices: [{ index: 0, message: { role: 'assistant', content } }] });
  /** Streams `pieces` (the last one finishing, or a finish chunk of its own): what the client gets of each. */
  const stream = (c, req, pieces, finishApart = false) => {
    const bodies = pieces.map((piece) => chunkOf([piece]));
    if (finishApart) bodies.push(chunkOf([undefined, 'stop']));
    else bodies.at(-1).choices[0].finish_reason = 'stop';
    return bodies.map((body) => {
      const chunk = localChunk(body);
      assert.deepEqual(c.streamChunk(req, chunk), ok('proceed'));
      return chunk.text() ?? '';
    });
  };
  beforeEach(() => host.reset());

  it('banned-keywords: normalized matches in requests and across chunks, held back until checked', async () => {
    const c = component(await port('banned-keywords-js'), { config: { keywords: ['Secret Plan'] } });
    assert.deepEqual(c.init(), ok(undefined));
    const message = 'Request contains a banned keyword: secret plan';
    assert.deepEqual(c.preCall(localRequest(chat('the ｓｅｃｒｅｔ\u00a0PLAN'))), rejected(message, 400, 'banned_keyword'));
    assert.deepEqual(c.preCall(localRequest(chat('nothing to see'))), ok({ tag: 'proceed' }));
    // A message's text parts are one text to the model, joined either way; texts of two
    // messages are not.
    for (const parts of [['tell me the secret', ' plan'], ['the secret', 'plan'], ['SECRET PL', 'AN']]) {
      const content = parts.map((text) => ({ type: 'text', text }));
      assert.deepEqual(c.preCall(localRequest(chat(content))), rejected(message, 400, 'banned_keyword'), parts.join('|'));
    }
    assert.deepEqual(c.preCall(localRequest(chat('the secret', 'plan'))), ok({ tag: 'proceed' }));
    const split = { choices: [{ message: { content: [{ type: 'text', text: 'the secret' }, { type: 'text', text: ' plan' }] } }] };
    assert.equal(c.postCallSuccess(localRequest(chat('hi')), localResponse(split)).val.tag, 'reject');
    const req = localRequest(chat('go'), { id: 's1' });
    const first = localChunk(chunkOf(['the sec']));
    assert.deepEqual(c.streamChunk(req, first), ok('proceed'));
    assert.equal(c.streamChunk(req, localChunk(chunkOf(['ret plan']))).val.tag, 'reject');
    assert.ok(!(first.text() ?? '').includes('sec'), first.text());
    assert.equal(stream(c, localRequest(chat('go'), { id: 's2' }), ['all ', 'is ', 'well'], true).join(''), 'all is well');
    assert.deepEqual(c.init('null'), { tag: 'err', val: 'invalid config: missing field `keywords`' });
  });

  it('header-injector: the configured headers, lower-cased, in name order', async () => {
    const c = component(await port('header-injector-js'), { config: { headers: { 'X-Served-By': 'hookgate', 'x-policy': 'v1' } } });
    const resp = answer('ok');
    c.postCallSuccess(localRequest(chat('hi')), resp);
    assert.deepEqual(resp.headers(), [['x-served-by', 'hookgate'], ['x-policy', 'v1']]);
    assert.deepEqual(c.init('{"headers": {"bad name": "x"}}'), { tag: 'err', val: 'invalid config: `headers`: "bad name" is not a valid HTTP header name' });
  });

  it('rate-limiter: counts per key in kv, 429 over the limit, its headers from the request standing', async () => {
    const c = component(await port('rate-limiter-js'), { config: { requests_per_minute: 2 } });
    for (const number of [0, 1]) {
      const req = localRequest(chat('hi'), { id: `r${number}` });
      c.preCall(req);
      const resp = answer('ok');
      c.postCallSuccess(req, resp);
      assert.equal(resp.header('x-ratelimit-remaining-requests'), String(1 - number));
    }
    const over = c.preCall(localRequest(chat('hi'), { id: 'r3' })).val.val;
    assert.deepEqual([over.status, over.code], [429, 'rate_limit_exceeded']);
    const [op, counter, delta, ttlMs] = host.calls[0];
    assert.deepEqual([op, delta], ['incr', 1n]);
    assert.ok(counter.startsWith(`key:${'0'.repeat(64)}:`), counter);
    assert.ok(ttlMs > 1000n && ttlMs <= 61_000n, String(ttlMs));
    const resp = answer('ok');
    c.postCallSuccess(localRequest(chat('hi'), { id: 'r4' }), resp);
    assert.equal(resp.header('x-ratelimit-limit-requests'), undefined, 'no standing from another request');
    host.reset();
    const perUser = component(await port('rate-limiter-js'), { config: { limit: 5, per: 'user' } });
    perUser.preCall(localRequest({ ...chat('hi'), user: 'ann' }));
    assert.ok(host.calls[0][1].startsWith('end-user:ann:'), host.calls[0][1]);
    assert.deepEqual(perUser.init('{"requests_per_minute": 1, "window_seconds": 5}'), {
      tag: 'err',
      val: 'invalid config: give `requests_per_minute`, or `limit` with `window_seconds`, not both',
    });
  });

  it('pii-redactor: masks every request text, and responses unless told not to', async () => {
    const PiiRedactor = await port('pii-redactor-js');
    const c = component(PiiRedactor, { config: null });
    const req = localRequest({
      model: 'm',
      messages: [
        { role: 'user', content: 'mail bob@example.com or ring +44 20 7946 0958, not 12 apples' },
        { role: 'user', name: 'x', content: [{ type: 'text', text: '(555) 123-4567' }] },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c', type: 'function', function: { name: 'send', arguments: '{"to": "ann@example.org"}' } }] },
      ],
      max_tokens: 64,
    });
    assert.deepEqual(c.preCall(req), ok({ tag: 'proceed' }));
    assert.deepEqual(req.texts().map(String), ['mail [EMAIL] or ring [PHONE], not 12 apples', 'x', '[PHONE]', 'send', '{"to": "[EMAIL]"}']);
    const clean = localRequest(chat('12 apples in 2024'));
    const body = clean.body();
    c.preCall(clean);
    assert.equal(clean.body(), body);
    let resp = answer('call 555.123.4567');
    c.postCallSuccess(localRequest(chat('hi')), resp);
    assert.deepEqual(resp.texts().map(String), ['call [PHONE]']);
    resp = answer('call 555.123.4567');
    component(PiiRedactor, { config: { responses: false } }).postCallSuccess(localRequest(chat('hi')), resp);
    assert.deepEqual(resp.texts().map(String), ['call 555.123.4567']);
  });

  it('pii-redactor: masks as re.sub reads them; config errors', async () => {
    const PiiRedactor = await port('pii-redactor-js');
    const c = component(PiiRedactor, { config: { mask_email: '<\\g<0>>', mask_phone: '#' } });
    const req = localRequest(chat('a@b.co 555 123 4567'));
    c.preCall(req);
    assert.deepEqual(req.texts().map(String), ['<a@b.co> #']);
    const refused = (config) => c.init(JSON.stringify(config)).val;
    assert.equal(refused({ zeta: 1, alpha: 2 }), 'invalid config: unknown field(s): alpha, zeta');
    assert.equal(refused([1]), 'invalid config: the config must be an object');
    assert.equal(refused({ mask_email: '\\q' }), 'invalid config: `mask_email` "\\\\q": bad escape \\q');
    assert.equal(refused({ mask_phone: 'x\\1' }), 'invalid config: `mask_phone` "x\\\\1": invalid group reference 1');
    assert.equal(refused({ mask_phone: 'x\\' }), 'invalid config: `mask_phone` "x\\\\": bad escape (end of pattern)');
    assert.deepEqual(c.init('{"mask_email": "\\\\101\\\\t\\\\[\\\\\\\\"}'), ok(undefined));
    const escaped = localRequest(chat('a@b.co'));
    c.preCall(escaped);
    assert.deepEqual(escaped.texts().map(String), ['A\t\\[\\']);
  });

  it('pii-redactor: a split address or number is masked before any of it is sent', async () => {
    const c = component(await port('pii-redactor-js'));
    const story = 'Write to jane.doe@example.com or call +1 555 123 4567 today.';
    const size = Math.ceil(story.length / 9);
    const pieces = Array.from({ length: Math.ceil(story.length / size) }, (_, i) => story.slice(i * size, (i + 1) * size));
    for (const finishApart of [false, true]) {
      const sent = stream(c, localRequest(chat('go'), { id: `split-${finishApart}` }), pieces, finishApart);
      assert.equal(sent.join(''), 'Write to [EMAIL] or call [PHONE] today.');
      assert.ok(!sent.some((s) => s.includes('jane') || s.includes('4567') || s.includes('555')), sent);
    }
    const words = Array.from({ length: 40 }, (_, i) => `word${i} `);
    const text = `${words.slice(0, 20).join('')}ann.lee@example.com ${words.slice(20).join('')}call (555) 123-4567 now`;
    const sent = stream(c, localRequest(chat('go'), { id: 'long' }), text.match(/[\s\S]{1,7}/g));
    assert.equal(sent.join(''), text.replace('ann.lee@example.com', '[EMAIL]').replace('(555) 123-4567', '[PHONE]'));
    assert.ok(sent.slice(0, -1).some(Boolean), 'text is sent before the stream ends');
    assert.ok(!sent.some((s) => s.includes('ann') || s.includes('lee@') || s.includes('4567')), sent);
  });

  it('pii-redactor: each request streams afresh; several choices', async () => {
    const c = component(await port('pii-redactor-js'));
    const first = localChunk({ choices: [{ index: 0, delta: { content: 'secret tail' } }] });
    c.streamChunk(localRequest(chat('a'), { id: 'r1' }), first);
    assert.equal(first.text(), '');
    assert.deepEqual(stream(c, localRequest(chat('b'), { id: 'r2' }), ['x']), ['x']);
    const req = localRequest(chat('go'), { id: 'r3' });
    c.streamChunk(req, localChunk(chunkOf(['a@b.c'], ['x@y.z'])));
    const last = localChunk(chunkOf(['om', 'stop'], [undefined, 'stop']));
    c.streamChunk(req, last);
    assert.deepEqual(last.answerTexts().map(String), ['[EMAIL]', 'x@y.z']);
  });
});

describe('http', () => {
  beforeEach(() => host.reset());

  it('is denied without a responder, as the proxy denies a plugin without a grant', () => {
    assert.throws(
      () => sdk.http.post('https://guard.test/analyze/prompt', { 'Content-Type': 'application/json' }, '{}'),
      (error) => error instanceof sdk.HttpError && error.kind === 'denied',
    );
    assert.deepEqual(host.httpCalls, [['POST', 'https://guard.test/analyze/prompt', [['content-type', 'application/json']], '{}']]);
  });

  it('answers with status, headers and body, and keeps error kinds', () => {
    host.http = (method, url) =>
      url.endsWith('/slow') ? { error: 'HTTP-response-timeout' } : { status: 200, headers: [['content-type', 'application/json']], body: '{"is_valid":true}' };
    const answer = sdk.http.get('http://127.0.0.1:8000/ok', [['x-a', '1']], { timeoutMs: 50 });
    assert.equal(answer.status, 200);
    assert.equal(answer.header('Content-Type'), 'application/json');
    assert.deepEqual(answer.json(), { is_valid: true });
    assert.throws(() => sdk.http.get('http://127.0.0.1:8000/slow'), (error) => error.kind === 'timeout');
    assert.throws(() => new sdk.HttpResponse(200, [], new TextEncoder().encode('no')).json(), (error) => error.kind === 'failed');
  });

  it('takes only http:// and https:// URLs with a host', () => {
    for (const url of ['ftp://x/', 'https:///path', 'nope']) {
      assert.throws(() => sdk.http.get(url), (error) => error.kind === 'failed', url);
    }
  });
});

describe('build.mjs: export glue without a promise per call (export-glue.mjs)', async () => {
  const vm = await import('node:vm');
  const { SETTLED, UnexpectedGlue, synchronousExports } = await import('../export-glue.mjs');

  // Two exports as componentize-js 0.23.0 generates them (abridged): one lifts an
  // argument, lends a resource, awaits the plugin's function, drops the loan and lowers
  // the result into memory; the other lowers a record.
  const glue = [
    'const events = [];',
    'const memory = [];',
    'async function export_hook_0_2_0$hook(arg0, arg1) {',
    '  var result0 = `lifted ${arg0}`;',
    '  events.push("lend");',
    '  let ret;',
    '  try {',
    '    try {',
    '      const hostRet1 = await hook020Hook(result0);',
    '      ret = { tag: "ok", val: hostRet1 };',
    '    } catch (e) {',
    '      ret = { tag: "err", val: String(e) };',
    '    }',
    '  } finally {',
    '    events.push("drop");',
    '  }',
    '  memory[arg1] = ret;',
    '  return;',
    '}',
    '',
    'async function export_setup_0_2_0$describe(arg0) {',
    '  let ret;',
    '  ret = await setup020Describe();',
    '  memory[arg0] = ret.name;',
    '  return;',
    '}',
    '',
  ].join('\n');

  function run(code) {
    const context = vm.createContext({});
    vm.runInContext(code, context);
    return context;
  }

  it('calls the plugin, drops the loan and lowers the result before it returns, and returns one settled promise', async () => {
    const rewritten = synchronousExports(glue);
    assert.doesNotMatch(rewritten, /\basync\b|\bawait\b/);
    const context = run(
      `${rewritten}
       function hook020Hook(text) { events.push(\`hook \${text}\`); Promise.resolve().then(() => events.push('job')); return 7; }
       function setup020Describe() { return { name: 'p' }; }
       globalThis.first = export_hook_0_2_0$hook('x', 1);
       globalThis.second = export_hook_0_2_0$hook('y', 2);
       globalThis.third = export_setup_0_2_0$describe(3);
       globalThis.afterCalls = [...events];
       globalThis.memory = memory;
       globalThis.events = events;
       globalThis.settled = ${SETTLED};`,
    );
    assert.deepEqual([...context.afterCalls], ['lend', 'hook lifted x', 'drop', 'lend', 'hook lifted y', 'drop']);
    assert.deepEqual(JSON.parse(JSON.stringify(context.memory)), [null, { tag: 'ok', val: 7 }, { tag: 'ok', val: 7 }, 'p']);
    assert.equal(context.first, context.settled);
    assert.equal(context.second, context.settled);
    assert.equal(context.third, context.settled);
    assert.equal(await context.first, undefined);
    // A job the hook queued still runs, once the event loop does.
    assert.deepEqual([...context.events].slice(-2), ['job', 'job']);
  });

  it("turns the plugin's exception into the glue's own error result, as before", () => {
    const context = run(`${synchronousExports(glue)}
       function hook020Hook() { throw new Error('bad'); }
       export_hook_0_2_0$hook('x', 0);
       globalThis.memory = memory;`);
    assert.deepEqual(JSON.parse(JSON.stringify(context.memory)), [{ tag: 'err', val: 'Error: bad' }]);
  });

  it('gives an export that returns a value a promise of that value', async () => {
    const context = run(`${synchronousExports('async function export_f(arg0) {\n  const hostRet0 = await f(arg0);\n  return hostRet0 + 1;\n}\n')}
       function f(x) { return x * 2; }
       globalThis.result = export_f(20);`);
    assert.equal(await context.result, 41);
  });

  it('refuses glue of another shape rather than build without the rewrite', () => {
    const shapes = [
      ['const a = 1;\n', /no `async function export_/],
      ['async function export_f() {\n  const a = await f();\n  const b = await g();\n  return;\n}\n', /awaits 2 time/],
      ['async function export_f() {\n  return;\n}\n', /awaits 0 time/],
      ['async function export_f() {\n  return await f();\n}\n', /awaits 1 time\(s\), not once on the plugin/],
      ['async function export_f() {\n  const a = await f();\n}\nasync function export_g({ a }) {\n  const b = await g();\n}\n', /still async/],
      ['async function export_f() {\n  const a = await f();', /has no end/],
    ];
    for (const [text, message] of shapes) {
      assert.throws(() => synchronousExports(text), (error) => error instanceof UnexpectedGlue && message.test(error.message), text);
    }
  });
});

describe('build.mjs: the engine warmed before the snapshot (warm-snapshot.mjs)', async () => {
  const acorn = await import('acorn');
  const vm = await import('node:vm');
  const { KEPT, regexLiterals, regexLiteralsOrNone, warmUp } = await import('../warm-snapshot.mjs');

  it('finds every regular expression literal once, and no division', () => {
    const code = [
      'const EMAIL = /[a-z]+@[a-z]+\\.[a-z]{2,}/g;',
      'const half = total / 2 / count;',
      'const again = /[a-z]+@[a-z]+\\.[a-z]{2,}/g, other = /[a-z]+@[a-z]+\\.[a-z]{2,}/i;',
      'const url = /^https?:\\/\\/[^/]+$/;',
      'const text = `a / b ${ratio / 3} /not a regex/`;',
      "const inString = '/nor this/';",
      'export default function f(x) { return x.replace(/\\s+/gu, " ") / 1; }',
    ].join('\n');
    assert.deepEqual(regexLiterals(acorn, code), [
      ['[a-z]+@[a-z]+\\.[a-z]{2,}', 'g'],
      ['[a-z]+@[a-z]+\\.[a-z]{2,}', 'i'],
      ['^https?:\\/\\/[^/]+$', ''],
      ['\\s+', 'gu'],
    ]);
  });

  it("makes each literal's own expression (the same source), runs it, keeps it, and leaves RegExp's statics empty", () => {
    const patterns = regexLiterals(acorn, 'const a = /^https?:\\/\\/([^/]+)/i; const b = /(x)(y)?/g; const c = /☃/u;');
    const context = vm.createContext({});
    vm.runInContext(`${warmUp(patterns)}\nglobalThis.kept = ${KEPT};`, context);
    const kept = [...context.kept].map((expression) => [expression.source, expression.flags]);
    assert.deepEqual(kept, patterns);
    // The literal's raw text, passed as it is, makes the literal's own expression.
    assert.equal(new RegExp(patterns[0][0], 'i').source, /^https?:\/\/([^/]+)/i.source);
    for (const name of ['lastMatch', 'input', 'lastParen', 'leftContext', 'rightContext', '$1', '$2']) {
      assert.equal(vm.runInContext(`RegExp[${JSON.stringify(name)}]`, context), '', name);
    }
  });

  it('skips what the engine refuses, and with no literal only makes the built-in classes', () => {
    const context = vm.createContext({});
    vm.runInContext(`${warmUp([['(', ''], ['a', 'nope'], ['b', 'g']])}\nglobalThis.kept = ${KEPT};`, context);
    assert.deepEqual([...context.kept].map(String), ['/b/g']);
    const bare = warmUp();
    assert.ok(!bare.includes(KEPT), bare);
    vm.runInContext(bare, vm.createContext({}));
  });

  it('finds no literals, and says why, in a bundle acorn cannot parse', () => {
    const warnings = [];
    assert.deepEqual(regexLiteralsOrNone(acorn, 'const a = /x/; const b = ;', (why) => warnings.push(why)), []);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^regular expressions not compiled ahead: acorn cannot parse the bundle \(Unexpected token/);
    assert.deepEqual(regexLiteralsOrNone(acorn, 'const a = /x/;', () => assert.fail('warned')), [['x', '']]);
  });

  it('runs on past a built-in the plugin replaced with one that throws', () => {
    const context = vm.createContext({});
    vm.runInContext("Array.prototype.map = () => { throw new Error('shimmed'); };", context);
    vm.runInContext(`${warmUp([['b', 'g']])}\nglobalThis.kept = ${KEPT};`, context);
    assert.deepEqual([...context.kept].map(String), ['/b/g']);
  });
});
