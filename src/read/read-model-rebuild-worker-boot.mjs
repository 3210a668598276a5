// Worker threads start without the TypeScript loader of their parent: register it, then load the rebuild worker.
import { register } from 'tsx/esm/api';

register();
await import('./read-model-rebuild-worker.ts');
