// parity (JavaScript): the plugin tests/plugins-parity.md specifies, written against the
// JavaScript SDK so that tests/suite/parity.rs can check that the SDKs agree
// (docs/sdk-parity.md). The same plugin exists in Rust (tests/plugins/parity) and Python
// (tests/plugins-py/parity-py); all three must report the same JSON for the same request.
//
// Build: node guest-sdk/js/build.mjs tests/plugins-js/parity-js/plugin.js -o parity_js.wasm

import { Plugin, Rejection, fail, kv, log, respond } from 'hookgate-sdk';

const has = (req, marker) => req.texts().some((part) => part.text.includes(marker));
const reject = (message) => Rejection.badRequest(JSON.stringify(message), 'parity');
const responseTexts = (resp) => resp.texts().map((part) => part.text);

export default class Parity extends Plugin {
  static name = 'parity';
  static version = '0.2.0';

  newCtx() {
    return { trail: [], request_id: null, chunks: [] };
  }

  /** Every hook first: note the request id and the hook in `ctx`. */
  enter(ctx, req, hook) {
    if (ctx.request_id === null) {
      ctx.request_id = req.id;
      // Requests this instance has served: instance state, not per request.
      this.requests = (this.requests ?? 0) + 1;
    }
    ctx.trail.push(hook);
  }

  report(ctx, req, hook) {
    const key = req.key;
    return {
      hook,
      same_request: ctx.request_id === req.id,
      trail: [...ctx.trail],
      instance_requests: this.requests,
      call_type: req.callType,
      stream: req.stream,
      model: req.model,
      key: { alias: key.alias, id: key.id, user_id: key.userId, team_id: key.teamId, metadata: key.metadata },
      texts: req.texts().map((t) => ({ text: t.text, path: t.path, is_key: t.isKey, item: t.item, role: t.role })),
    };
  }

  preCall(ctx, req) {
    this.enter(ctx, req, 'pre-call');
    if (has(req, 'PARITY-REPORT')) {
      throw reject({
        ...this.report(ctx, req, 'pre-call'),
        config: this.config,
        fields: req.fieldNames(),
        temperature: req.field('temperature') ?? null,
        x_parity: req.header('x-parity') ?? null,
      });
    }
    if (has(req, 'PARITY-KV-SET')) {
      kv.set('ttl', 'set', 100);
      kv.set('kept', 'set', 60000);
      return;
    }
    if (has(req, 'PARITY-KV-GET')) throw reject({ kv: kv.get('ttl') ?? null, kept: kv.get('kept') ?? null });
    if (has(req, 'PARITY-FAIL')) fail('parity fails on purpose');
    if (has(req, 'PARITY-EDIT')) {
      const texts = req.texts();
      req.setText(texts.length - 1, `${texts.at(-1).text} [edited]`);
      req.setField('temperature', '0.5');
      return;
    }
    if (has(req, 'PARITY-RESPOND')) return respond('parity answers');
  }

  moderation(ctx, req) {
    this.enter(ctx, req, 'moderation');
    // Does not fit moderation: the SDK must turn it into a failure.
    if (has(req, 'PARITY-WRONG-OUTCOME')) return respond('x');
  }

  postCallSuccess(ctx, req, resp) {
    this.enter(ctx, req, 'post-call-success');
    const report = { ...this.report(ctx, req, 'post-call-success'), status: resp.status, response_texts: responseTexts(resp) };
    resp.setHeader('x-parity', JSON.stringify(report));
  }

  postCallFailure(ctx, req, failure) {
    this.enter(ctx, req, 'post-call-failure');
    if (has(req, 'PARITY-RECOVER')) {
      throw reject({
        ...this.report(ctx, req, 'post-call-failure'),
        failure: {
          status: failure.status,
          error_type: failure.errorType,
          message: failure.message,
          code: failure.code,
          rejected_by: failure.rejectedBy,
        },
      });
    }
  }

  streamChunk(ctx, req, chunk) {
    this.enter(ctx, req, 'stream-chunk');
    ctx.chunks.push(chunk.text());
  }

  streamEnd(ctx, req, text) {
    this.enter(ctx, req, 'stream-end');
    if (has(req, 'PARITY-STREAM')) throw reject({ ...this.report(ctx, req, 'stream-end'), chunks: ctx.chunks, text });
  }

  logLine(ctx, req, hook, entry, extra) {
    const line = {
      ...this.report(ctx, req, hook),
      status_code: entry.statusCode,
      entry_model: entry.model,
      failure_status: entry.failure?.status ?? null,
      usage_total: entry.usage?.totalTokens ?? null,
      decisions: entry.decisions.length,
      ...extra,
    };
    log.info(`parity-log ${JSON.stringify(line)}`);
  }

  logSuccess(ctx, req, resp, entry) {
    this.enter(ctx, req, 'log-success');
    this.logLine(ctx, req, 'log-success', entry, { response_texts: responseTexts(resp) });
  }

  logFailure(ctx, req, entry) {
    this.enter(ctx, req, 'log-failure');
    this.logLine(ctx, req, 'log-failure', entry, {});
  }
}
