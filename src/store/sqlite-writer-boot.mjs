// Worker threads start without the TypeScript loader of their parent: register it, then load the writer.
import { register } from 'tsx/esm/api';

register();
await import('./sqlite-writer.ts');
