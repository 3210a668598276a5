// `node --import <this file>`: records the URL of every module the process resolves, one per line, in the file
// named by FLASHTRAIL_RECORD_MODULES. The hooks run on their own thread, so they write the file themselves.
import { register } from 'node:module';

register('./record-modules-hooks.mjs', import.meta.url, { data: { file: process.env.FLASHTRAIL_RECORD_MODULES } });
