// Worker threads start without the TypeScript loader of their parent: register it, then load the append thread.
import { register } from 'tsx/esm/api';

register();
await import('./merkle-append-worker.ts');
