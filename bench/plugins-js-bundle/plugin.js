// The bench's five JavaScript plugins in one component, for scenario (q): what one engine
// shared by a request's plugins saves over five (`Bundle` from hookgate-sdk).
//
// `make bench-guests` assembles this folder under `target/five-js/`: this module, and
// each member's own source copied in as the module imported below (`JS_BUNDLE_MEMBERS`
// in the Makefile), so the members are exactly the plugins scenario (j) runs one by one.
// The config is theirs, by member name; the members run in (j)'s priority order.

import { Bundle } from 'hookgate-sdk';
import BannedKeywords from './banned-keywords.js';
import CostLogger from './cost-logger.js';
import HeaderInjector from './header-injector.js';
import PiiRedactor from './pii-redactor.js';
import RateLimiter from './rate-limiter.js';

export default class FivePlugins extends Bundle {
  static name = 'five-js';
  static version = '0.2.0';
  static members = [
    ['rate-limiter', RateLimiter],
    ['pii-redactor', PiiRedactor],
    ['banned-keywords', BannedKeywords],
    ['header-injector', HeaderInjector],
    ['cost-logger', CostLogger],
  ];
}
