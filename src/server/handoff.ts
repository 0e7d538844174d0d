import type { Server } from 'node:http';
import { Socket } from 'node:net';
import type { Logger } from 'pino';
import { HANDOFF, type ReadyMessage } from '../shared/handoff.js';

/**
 * Under the local supervisor (ATLAS_HANDOFF=1): the supervisor alone listens on the public
 * address and hands each connection it accepts to the process that serves, over the IPC
 * channel. So a switch changes where new connections go, and none is refused meanwhile. This
 * process still listens on its own private address, where tpctl checks a candidate before it
 * serves; it says which once it is ready.
 */
export function acceptHandedConnections(server: Server, port: number, log: Logger): void {
  const send = process.send?.bind(process);
  if (!send) {
    log.warn('ATLAS_HANDOFF is set but there is no supervisor channel: serving on the private address only');
    return;
  }
  // The channel must not keep a stopping process alive.
  process.channel?.unref();
  process.on('message', (message: unknown, socket: unknown) => {
    if (message !== HANDOFF.connection || !(socket instanceof Socket)) return;
    server.emit('connection', socket);
  });
  send({ type: HANDOFF.ready, port } satisfies ReadyMessage);
}
