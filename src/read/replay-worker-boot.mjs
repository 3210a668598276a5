// Worker threads start without the TypeScript loader of their parent: register it, then load the replay worker.
import { register } from 'tsx/esm/api';

register();
await import('./replay-worker.ts');
