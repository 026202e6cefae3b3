// js-bundle: a JavaScript test plugin made of two members (`Bundle`), each a plugin module
// of its own beside this one, as tests/plugins-py/py-bundle in Python:
//
// - `counter` (counter.js): preCall throws an Error on `CRASH` (a fault); every success
//   gets `x-counter-calls`, its kv count of successes;
// - `guard` (guard.js): preCall refuses `forbidden` (code `guarded`); every success gets
//   `x-guard-calls`, its own kv count under the same key name.

import { Bundle } from 'hookgate-sdk';
import Counter from './counter.js';
import Guard from './guard.js';

export default class JsBundle extends Bundle {
  static name = 'js-bundle';
  static members = [
    ['counter', Counter],
    ['guard', Guard],
  ];
}
