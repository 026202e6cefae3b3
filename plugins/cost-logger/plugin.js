// cost-logger: one structured log line per successful request, for cost accounting.
//
// On log-success it writes, through the proxy's log at info level, a JSON object:
//
//   {"event":"cost","request_id":"…","model":"gpt-4o-mini","model_used":"gpt-4o-mini",
//    "key_alias":"team-blue","prompt_tokens":12,"completion_tokens":9,"total_tokens":21,
//    "cost_usd":0.0000072,"latency_ms":1.359}
//
// From the request and the typed log entry (wit/plugin.wit, `log-entry`): `request_id` is
// the request's id, `key_alias` its key's alias (null for a key without one); `model` is
// the model the client asked for, `model_used` the one sent upstream; `cost_usd` is the
// entry's `response-cost` (null when the model has no price, see docs/logging-payload.md);
// token counts are null when the upstream reported no usage; `latency_ms` is end_time -
// start_time in milliseconds, rounded to 0.001.
//
// Config (optional): {"event": "cost"}: the value of the `event` field, to tell these
// lines apart in a log shipper.
//
// Build: node guest-sdk/js/build.mjs plugins/cost-logger/plugin.js -o cost-logger.wasm

import { Plugin, log } from 'hookgate-sdk';

const number = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

export default class CostLogger extends Plugin {
  static name = 'cost-logger';
  static version = '0.2.0';

  constructor(config) {
    super(config);
    // The constructor also runs when the proxy loads the plugin: a bad config refuses it.
    const settings = config ?? {};
    if (typeof settings !== 'object' || Array.isArray(settings)) {
      throw new Error('invalid config: expected an object like {"event": "cost"}');
    }
    const { event = 'cost', ...unknown } = settings;
    const extra = Object.keys(unknown);
    if (extra.length) throw new Error(`invalid config: unknown field \`${extra[0]}\`, expected only \`event\``);
    if (typeof event !== 'string' || event === '') throw new Error('invalid config: `event` must be a non-empty string');
    this.event = event;
  }

  logSuccess(ctx, req, resp, entry) {
    const start = number(entry.startTime);
    const end = number(entry.endTime);
    const line = {
      event: this.event,
      request_id: req.id,
      model: entry.model,
      model_used: entry.modelUsed,
      key_alias: req.key.alias,
      prompt_tokens: number(entry.usage?.promptTokens),
      completion_tokens: number(entry.usage?.completionTokens),
      total_tokens: number(entry.usage?.totalTokens),
      cost_usd: number(entry.responseCost),
      latency_ms: start !== null && end !== null ? Math.round((end - start) * 1e6) / 1000 : null,
    };
    log.info(JSON.stringify(line));
  }
}
