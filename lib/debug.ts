/** Developer traces, off unless `NODE_DEBUG=dynamo-memory` is set. */
import { debuglog } from 'node:util';

export const debug = debuglog('dynamo-memory');
