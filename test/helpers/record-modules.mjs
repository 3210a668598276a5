// `node --import <this file>`: records the URL of every module the process resolves, one per line, in the file
// named by FLASHTRAIL_RECORD_MODULES. Node 22.15+ runs the hook in this thread (module.registerHooks);
// module.register() is deprecated from Node 26 on (DEP0205, a warning on stderr) and is only the fallback for
// Node 20, whose hooks run on their own thread and so write the file themselves (record-modules-hooks.mjs).
import { appendFileSync } from 'node:fs';
import * as module from 'node:module';

const file = process.env.FLASHTRAIL_RECORD_MODULES;
if (typeof module.registerHooks === 'function') {
  module.registerHooks({
    resolve(specifier, context, nextResolve) {
      const resolved = nextResolve(specifier, context);
      if (file) appendFileSync(file, `${resolved.url}\n`);
      return resolved;
    },
  });
} else {
  module.register('./record-modules-hooks.mjs', import.meta.url, { data: { file } });
}
