/**
 * The messages between the local supervisor and the Tenant Plane it runs: the Tenant Plane says
 * it is ready (and its private port); the supervisor hands it each public connection.
 */
export const HANDOFF = { ready: 'atlas:ready', connection: 'atlas:connection' } as const;

export interface ReadyMessage {
  type: typeof HANDOFF.ready;
  port: number;
}

export const isReadyMessage = (m: unknown): m is ReadyMessage =>
  typeof m === 'object' && m !== null && (m as ReadyMessage).type === HANDOFF.ready && Number.isInteger((m as ReadyMessage).port);
