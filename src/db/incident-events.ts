import type { INCIDENT_EVENT_KINDS } from '../shared/api-shapes.js';
import type { Queryable } from './database.js';

/**
 * What happens to an incident, in one place: each event goes on the incident's timeline and,
 * in the same transaction, into the outbox of every enabled webhook that subscribes to it (the
 * dispatcher delivers from there, so no event is lost when a delivery fails or the process dies).
 */
export const INCIDENT_EVENTS = {
  created: 'incident.created',
  acknowledged: 'incident.acknowledged',
  resolved: 'incident.resolved',
  updated: 'incident.updated',
  comment: 'incident.commented',
  execution_started: 'incident.execution_started',
  execution_finished: 'incident.execution_finished',
} as const satisfies Record<(typeof INCIDENT_EVENT_KINDS)[number], string>;

export type IncidentEventKind = keyof typeof INCIDENT_EVENTS;
export const WEBHOOK_EVENTS = [...Object.values(INCIDENT_EVENTS), 'test'] as const;

export async function recordIncidentEvent(
  tx: Queryable,
  incidentId: string | number,
  actor: string,
  kind: IncidentEventKind,
  detail: Record<string, unknown> = {},
): Promise<void> {
  const [event] = await tx.query<{ at: Date }>('INSERT INTO incident_events (incident_id, actor, kind, detail) VALUES ($1, $2, $3, $4::jsonb) RETURNING at', [
    incidentId,
    actor,
    kind,
    JSON.stringify(detail),
  ]);
  const name = INCIDENT_EVENTS[kind];
  await tx.query(
    `INSERT INTO webhook_deliveries (webhook_id, event, payload)
     SELECT w.id, $2, jsonb_build_object('event', $2::text, 'at', $3::timestamptz, 'actor', $4::text, 'detail', $5::jsonb,
              'incident', (SELECT jsonb_build_object('id', i.id, 'title', i.title, 'severity', i.severity, 'status', i.status) FROM incidents i WHERE i.id = $1))
       FROM webhooks w WHERE w.enabled AND $2 = ANY(w.events)`,
    [incidentId, name, event?.at ?? new Date(), actor, JSON.stringify(detail)],
  );
}
