// Unit tests of the JavaScript SDK's Bundle in plain node, driven through the glue a
// component runs (src/export.js), as tests/sdk.test.mjs drives single plugins.
//
//     node --test guest-sdk/js/tests/bundle.test.mjs

import assert from 'node:assert/strict';
import { describe, it, beforeEach } from 'node:test';

await import('../src/testing/register.js');
const sdk = await import('hookgate-sdk');
const testing = await import('hookgate-sdk/testing');
const { host, localRequest, localResponse, localChunk, component } = testing;

const BODY = { model: 'm', messages: [{ role: 'user', content: 'mail ann@example.com the secret plan' }] };
const ok = (val) => ({ tag: 'ok', val });
const failed = (message) => ({ tag: 'err', val: { tag: 'fail', val: message } });
const ran = [];

class Masker extends sdk.Plugin {
  constructor(config) {
    super(config);
    this.mask = config?.mask ?? '[EMAIL]';
  }
  preCall(ctx, req) {
    ran.push('masker.preCall');
    ctx.count = sdk.kv.incr('requests');
    req.mapTexts((text) => text.replace('ann@example.com', this.mask));
  }
  streamChunk(ctx, req, chunk) {
    ran.push('masker.streamChunk');
    if (chunk.texts().some((t) => t.text.includes('drop me'))) return sdk.drop();
  }
  logSuccess() {
    ran.push('masker.logSuccess');
    throw new Error('the log line failed');
  }
}

class Banned extends sdk.Plugin {
  constructor(config) {
    super(config);
    if (!config?.keywords?.length) throw new Error('`keywords` is required');
    this.keywords = config.keywords;
  }
  newCtx() {
    return { seen: 0 };
  }
  preCall(ctx, req) {
    ran.push('banned.preCall');
    ctx.seen += 1;
    ctx.texts = req.texts().map((t) => t.text);
    if (ctx.texts.some((text) => this.keywords.some((k) => sdk.normalize(text).includes(k)))) {
      throw sdk.Rejection.badRequest('banned', 'banned');
    }
    sdk.kv.set('last', 'clean');
  }
  streamChunk() {
    ran.push('banned.streamChunk');
  }
  logSuccess() {
    ran.push('banned.logSuccess');
  }
}

class Broken extends sdk.Plugin {
  preCall() {
    ran.push('broken.preCall');
    throw new TypeError('no such thing');
  }
}

class Answering extends sdk.Plugin {
  preCall() {
    ran.push('answering.preCall');
    return sdk.respond('from the cache');
  }
}

class Guardrails extends sdk.Bundle {
  static name = 'guardrails';
  static members = [['masker', Masker], ['banned', Banned]];
}

const bundleOf = (...members) => class extends sdk.Bundle {
  static members = members;
};
const rejectionCode = (result) => result.tag === 'err' && result.val.tag === 'reject' && result.val.val.code;

describe('Bundle', () => {
  beforeEach(() => {
    ran.length = 0;
    host.reset();
  });

  it('exports the hooks any member defines, in the contract order', () => {
    assert.deepEqual(component(Guardrails, { config: { banned: { keywords: ['x'] } } }).hooks, ['preCall', 'streamChunk', 'logSuccess']);
  });

  it('gives each member its own config and refuses a bad one naming it', () => {
    const c = component(Guardrails, { config: { masker: { mask: '<hidden>' }, banned: { keywords: ['forbidden'] } } });
    assert.deepEqual(c.init(), ok(undefined));
    assert.equal(c.exported.plugin.plugins[0][1].mask, '<hidden>');
    assert.deepEqual(c.init('{"masker": {}}'), { tag: 'err', val: 'banned: `keywords` is required' });
    assert.deepEqual(c.init('{"bannd": {}}'), { tag: 'err', val: 'no member named "bannd"; the members are masker, banned' });
    assert.deepEqual(c.init('["masker"]'), { tag: 'err', val: "a bundle's config is an object of its members' configs, by member name" });
  });

  it('runs members in order, each seeing the edits before it', () => {
    const c = component(Guardrails, { config: { banned: { keywords: ['forbidden'] } } });
    const req = localRequest(BODY);
    assert.deepEqual(c.preCall(req), ok({ tag: 'proceed' }));
    assert.deepEqual(ran, ['masker.preCall', 'banned.preCall']);
    assert.deepEqual(c.exported.ctx[1].texts, ['mail [EMAIL] the secret plan']);
  });

  it('ends the hook at the first rejection, which is the bundle\'s answer', () => {
    const c = component(Guardrails, { config: { banned: { keywords: ['secret plan'] } } });
    assert.equal(rejectionCode(c.preCall(localRequest(BODY))), 'banned');
  });

  it('never lets a failing member skip a later member\'s check', () => {
    const Bundle = bundleOf(['broken', Broken], ['banned', Banned]);
    assert.equal(rejectionCode(component(Bundle, { config: { banned: { keywords: ['secret plan'] } } }).preCall(localRequest(BODY))), 'banned');
    assert.deepEqual(ran, ['broken.preCall', 'banned.preCall']);
    ran.length = 0;
    const result = component(Bundle, { config: { banned: { keywords: ['forbidden'] } } }).preCall(localRequest(BODY));
    assert.equal(result.tag, 'err');
    assert.match(result.val.val, /^broken: TypeError: no such thing/);
    assert.deepEqual(ran, ['broken.preCall', 'banned.preCall']);
  });

  it('ends preCall at an answer, which does not hide an earlier failure', () => {
    const config = { config: { banned: { keywords: ['secret plan'] } } };
    const afterBroken = component(bundleOf(['broken', Broken], ['answering', Answering], ['banned', Banned]), config);
    assert.match(afterBroken.preCall(localRequest(BODY)).val.val, /^broken: /);
    assert.deepEqual(ran, ['broken.preCall', 'answering.preCall']);
    ran.length = 0;
    const answers = component(bundleOf(['answering', Answering], ['banned', Banned]), config);
    assert.deepEqual(answers.preCall(localRequest(BODY)), ok({ tag: 'respond', val: 'from the cache' }));
    assert.deepEqual(ran, ['answering.preCall']);
  });

  it('ends streamChunk at a dropped chunk', () => {
    const c = component(Guardrails, { config: { banned: { keywords: ['x'] } } });
    const req = localRequest({ ...BODY, stream: true });
    const chunk = (content) => localChunk({ choices: [{ index: 0, delta: { content } }] });
    assert.deepEqual(c.streamChunk(req, chunk('keep me')), ok('proceed'));
    assert.deepEqual(c.streamChunk(req, chunk('drop me')), ok('drop'));
    assert.deepEqual(ran, ['masker.streamChunk', 'banned.streamChunk', 'masker.streamChunk']);
  });

  it('gives each member its own ctx, made afresh for each request, and its own kv keys', () => {
    const Two = bundleOf(['first', Masker], ['second', Masker], ['banned', Banned]);
    const c = component(Two, { config: { banned: { keywords: ['forbidden'] } } });
    c.preCall(localRequest(BODY, { id: 'one' }));
    const first = c.exported.ctx;
    c.preCall(localRequest(BODY, { id: 'two' }));
    assert.notEqual(c.exported.ctx, first);
    assert.equal(c.exported.ctx[2].seen, 1);
    assert.equal(c.exported.ctx[0].count, 2);
    assert.deepEqual([...host.store.keys()].sort(), ['banned/last', 'first/requests', 'second/requests']);
    // Outside a member's hook, keys are the plugin's own again.
    assert.equal(sdk.kv.incr('requests'), 1);
    assert.ok(host.store.has('requests'));
  });

  it('runs every logging member even after one fails', () => {
    const c = component(Guardrails, { config: { banned: { keywords: ['x'] } } });
    const result = c.logSuccess(localRequest(BODY), localResponse({ choices: [] }));
    assert.equal(result.tag, 'err');
    assert.match(result.val, /^masker: Error: the log line failed/);
    assert.deepEqual(ran, ['masker.logSuccess', 'banned.logSuccess']);
  });

  it('checks its members when asked for its hooks', () => {
    const hooks = (members) => () => bundleOf(...members).hooksOf();
    assert.throws(hooks([['a', Masker], ['a', Banned]]), /a appears twice/);
    assert.throws(hooks([['a', Object]]), /is not a Plugin subclass/);
    assert.throws(hooks([['a', Guardrails]]), /nor a Bundle/);
    assert.throws(hooks([['a/b', Masker]]), /not a member name/);
  });
});
