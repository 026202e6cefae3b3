// Lets node import plugins and the SDK: `node --import <sdk>/src/testing/register.js --test`
// (Node.js 20.6 or newer). Installs loader.js's resolution hooks.
import { register } from 'node:module';

register('./loader.js', import.meta.url);
