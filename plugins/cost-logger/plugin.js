// cost-logger: one structured log line per successful request, for cost accounting.
//
// On log-success it writes, through the proxy's log at info level, a JSON object:
//
//   {"event":"cost","request_id":"…","model":"gpt-4o-mini","model_used":"gpt-4o-mini",
//    "key_alias":"team-blue","prompt_tokens":12,"completion_tokens":9,"total_tokens":21,
//    "cost_usd":0.0000072,"latency_ms":1.359}
//
// `cost_usd` is the payload's `response_cost` (null when the model has no price, see
// docs/logging-payload.md); token counts are null when the upstream reported no usage;
// `latency_ms` is end_time - start_time in milliseconds, rounded to 0.001.
//
// Config (optional): {"event": "cost"}: the value of the `event` field, to tell these
// lines apart in a log shipper.
//
// Build: node guest-sdk/js/build.mjs plugins/cost-logger/plugin.js -o cost-logger.wasm

import { Plugin, log } from 'hookgate-sdk';

const number = (value) => (typeof value === 'number' && Number.isFinite(value) ? value : null);

export default class CostLogger extends Plugin {
  static name = 'cost-logger';
  static version = '0.1.0';

  constructor(config) {
    super(config);
    // The constructor also runs when the proxy loads the plugin: a bad config refuses it.
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new Error('invalid config: expected an object like {"event": "cost"}');
    }
    const { event = 'cost', ...unknown } = config;
    const extra = Object.keys(unknown);
    if (extra.length) throw new Error(`invalid config: unknown field \`${extra[0]}\`, expected only \`event\``);
    if (typeof event !== 'string' || event === '') throw new Error('invalid config: `event` must be a non-empty string');
    this.event = event;
  }

  logSuccess(payload) {
    const usage = payload?.usage ?? {};
    const start = number(payload?.start_time);
    const end = number(payload?.end_time);
    const line = {
      event: this.event,
      request_id: payload?.id ?? null,
      model: payload?.model ?? null,
      model_used: payload?.model_used ?? null,
      key_alias: payload?.key_alias ?? null,
      prompt_tokens: number(usage?.prompt_tokens),
      completion_tokens: number(usage?.completion_tokens),
      total_tokens: number(usage?.total_tokens),
      cost_usd: number(payload?.response_cost),
      latency_ms: start !== null && end !== null ? Math.round((end - start) * 1e6) / 1000 : null,
    };
    log.info(JSON.stringify(line));
  }
}
