// Worker threads start without the TypeScript loader of their parent: register it, then load the read side.
import { register } from 'tsx/esm/api';

register();
await import('./read-side-thread.ts');
