import type { FromSchema, JSONSchema } from 'json-schema-to-ts';

/**
 * What the API answers, written once as JSON Schema: the routes declare these as their response
 * schemas (Fastify serializes by them, and the OpenAPI document at /api/openapi.json is made from
 * them), and the types below, derived from the same schemas, are what the pages, the recovery
 * checklist and the edge agent read.
 */

/** An object whose every property is required and which has no others. */
function object<const P extends Record<string, JSONSchema>>(
  properties: P,
): { type: 'object'; additionalProperties: false; required: (keyof P & string)[]; properties: P } {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties), properties };
}

/** The same object, where only `required` must be there. */
function partly<const P extends Record<string, JSONSchema>, const R extends keyof P & string>(
  properties: P,
  required: R[],
): { type: 'object'; additionalProperties: false; required: R[]; properties: P } {
  return { type: 'object', additionalProperties: false, required, properties };
}

function nullable<const S extends { type: string }>(schema: S): Omit<S, 'type'> & { type: [S['type'], 'null'] } {
  return { ...schema, type: [schema.type, 'null'] };
}

const text = { type: 'string' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;
const at = { type: 'string', format: 'date-time' } as const;
const integer = { type: 'integer' } as const;
const boolean = { type: 'boolean' } as const;
const texts = { type: 'array', items: text } as const;
/** Any JSON value (a setting's value, an event's detail). */
const json = {} as const;
const nextBefore = nullable(integer);

export const errorShape = object({ error: text, message: text });

export const userShape = object({
  id: uuid,
  email: text,
  name: text,
  role: { type: 'string', enum: ['admin', 'operator', 'viewer'] },
  disabled: boolean,
  createdAt: at,
});
export const userAnswer = object({ user: userShape });
export const usersAnswer = object({ users: { type: 'array', items: userShape } });
export const meAnswer = object({ user: userShape, via: { type: 'string', enum: ['session', 'token'] } });

export const healthAnswer = object({
  status: { type: 'string', enum: ['ok', 'error'] },
  version: text,
  checks: object({
    database: partly({ status: text, kind: text, latencyMs: { type: 'number' }, message: text, checkedAgoMs: integer }, ['status']),
    schema: partly({ status: text, applied: integer, ahead: texts, pending: texts, changed: texts, breaking: texts }, ['status']),
  }),
});

export const licenseAnswer = object({
  version: text,
  license: partly(
    {
      status: { type: 'string', enum: ['missing', 'invalid', 'valid', 'expired'] },
      valid: boolean,
      message: text,
      licensee: text,
      tenant: text,
      seats: integer,
      issuedAt: text,
      expiresAt: text,
    },
    ['status', 'valid', 'message'],
  ),
});

const tokenFields = { id: uuid, name: text, prefix: text, createdAt: at, lastUsedAt: nullable(at), revokedAt: nullable(at) } as const;
export const tokensAnswer = object({ tokens: { type: 'array', items: object(tokenFields) } });
export const tokenCreatedAnswer = object({ token: object({ ...tokenFields, secret: text }), note: text });
export const revokedAnswer = object({ revoked: integer });

export const settingShape = object({ key: text, value: json, updatedAt: at, updatedBy: nullable(text) });
export const settingsAnswer = object({ settings: { type: 'array', items: settingShape } });
export const settingAnswer = object({ setting: settingShape });
export const settingsAuditAnswer = object({
  entries: { type: 'array', items: object({ id: integer, key: text, oldValue: json, newValue: json, changedBy: nullable(text), changedAt: at }) },
  nextBefore,
});

export const enrollmentTokenCreatedAnswer = object({
  enrollmentToken: object({ id: uuid, name: text, labels: texts, expiresAt: at, token: text }),
  note: text,
});
export const enrollmentTokensAnswer = object({
  enrollmentTokens: {
    type: 'array',
    items: object({ id: uuid, name: text, labels: texts, createdAt: at, expiresAt: at, usedAt: nullable(at), revokedAt: nullable(at) }),
  },
});
export const enrolledAnswer = object({ agent: object({ id: uuid, name: text, labels: texts }), credential: text });
export const checkinAnswer = object({ ok: { type: 'boolean', const: true }, agentId: uuid });
export const agentShape = object({
  id: uuid,
  name: text,
  labels: texts,
  version: nullable(text),
  hostname: nullable(text),
  runbooks: texts,
  enrolledAt: at,
  lastSeenAt: nullable(at),
  online: boolean,
  revoked: boolean,
});
export const agentsAnswer = object({ agents: { type: 'array', items: agentShape }, onlineWithinSeconds: integer });
export const agentAnswer = object({ agent: agentShape });

export const EXECUTION_STATUSES = ['queued', 'running', 'succeeded', 'failed', 'timed_out', 'refused'] as const;
export const executionShape = object({
  id: uuid,
  runbook: text,
  agentId: uuid,
  incidentId: nullable(integer),
  status: { type: 'string', enum: EXECUTION_STATUSES },
  exitCode: nullable(integer),
  output: text,
  outputTruncated: boolean,
  error: nullable(text),
  createdAt: at,
  startedAt: nullable(at),
  finishedAt: nullable(at),
});
export const executionsAnswer = object({ executions: { type: 'array', items: executionShape } });
export const executionAnswer = object({ execution: executionShape });
export const claimAnswer = object({ execution: object({ id: uuid, runbook: text }) });
export const resultAnswer = partly({ acknowledged: { type: 'boolean', const: true }, execution: executionShape, duplicate: { type: 'boolean', const: true } }, [
  'acknowledged',
]);

export const incidentShape = object({
  id: integer,
  title: text,
  description: text,
  severity: { type: 'string', enum: ['critical', 'high', 'medium', 'low'] },
  status: { type: 'string', enum: ['open', 'acknowledged', 'resolved'] },
  assignee: nullable(object({ id: uuid, email: text })),
  createdAt: at,
  updatedAt: at,
  acknowledgedAt: nullable(at),
  resolvedAt: nullable(at),
});
export const incidentAnswer = object({ incident: incidentShape });
export const incidentsAnswer = object({ incidents: { type: 'array', items: incidentShape }, nextBefore });
/** The kinds of event on an incident's timeline. */
export const INCIDENT_EVENT_KINDS = ['created', 'acknowledged', 'resolved', 'updated', 'comment', 'execution_started', 'execution_finished'] as const;
/**
 * What an event records beside its kind. Fields of each kind are declared; others (an older or a
 * newer version's) are kept too: an object the serializer has no properties for would answer `{}`.
 */
const incidentEventDetail = {
  type: 'object',
  additionalProperties: json,
  properties: {
    severity: text, // created
    note: text, // acknowledged, resolved
    title: text, // updated: the fields changed
    assigneeId: nullable(uuid),
    text, // comment
    executionId: uuid, // execution_started, execution_finished
    runbook: text,
    agentId: uuid,
    status: text,
    exitCode: nullable(integer),
  },
} as const;
export const incidentEventShape = object({
  id: integer,
  at,
  actor: text,
  kind: { type: 'string', enum: INCIDENT_EVENT_KINDS },
  detail: incidentEventDetail,
});
export const incidentDetailAnswer = object({
  incident: incidentShape,
  timeline: { type: 'array', items: incidentEventShape },
  executions: executionsAnswer.properties.executions,
});
export const noContent = { type: 'null', description: 'no body' } as const;
export const okAnswer = object({ ok: { type: 'boolean', const: true } });

const deliveryStatus = { type: 'string', enum: ['pending', 'delivered', 'failed'] } as const;
export const webhookShape = object({
  id: uuid,
  name: text,
  url: text,
  events: texts,
  enabled: boolean,
  createdAt: at,
  deliveries: object({
    pending: integer,
    failed: integer,
    last: nullable(
      object({
        id: integer,
        event: text,
        status: deliveryStatus,
        attempts: integer,
        lastStatusCode: nullable(integer),
        lastError: nullable(text),
        createdAt: at,
        deliveredAt: nullable(at),
      }),
    ),
  }),
});
export const webhookAnswer = object({ webhook: webhookShape });
export const webhookCreatedAnswer = object({ webhook: webhookShape, secret: text, note: text });
export const webhooksAnswer = object({ webhooks: { type: 'array', items: webhookShape } });
export const deliveryShape = object({
  id: integer,
  event: text,
  status: deliveryStatus,
  attempts: integer,
  nextAttemptAt: nullable(at),
  lastStatusCode: nullable(integer),
  lastError: nullable(text),
  createdAt: at,
  deliveredAt: nullable(at),
  payload: json,
});
export const deliveriesAnswer = object({ deliveries: { type: 'array', items: deliveryShape } });
export const webhookTestAnswer = partly(
  {
    deliveryId: integer,
    status: deliveryStatus,
    statusCode: nullable(integer),
    error: nullable(text),
    /** The first 200 bytes of the receiver's answer (control characters shown as U+FFFD); new in 1.3.0, so optional for a release. */
    answer: nullable(text),
  },
  ['deliveryId', 'status', 'statusCode', 'error'],
);

/** A run of tpctl as it reported it (its figures: the rehearsal's and the bake's lines, by name). */
export const operationShape = object({
  id: text,
  kind: { type: 'string', enum: ['upgrade', 'rollback'] },
  from: text,
  to: text,
  state: { type: 'string', enum: ['running', 'succeeded', 'failed', 'rolled-back', 'needs-human', 'refused', 'interrupted'] },
  step: nullable(text),
  stepWhat: nullable(text),
  stepStartedAt: nullable(at),
  actor: text,
  summary: nullable(text),
  figures: { type: 'object', additionalProperties: text },
  log: text,
  startedAt: at,
  finishedAt: nullable(at),
  updatedAt: at,
  reportedBy: nullable(text),
});
export const operationsAnswer = object({ running: nullable(operationShape), operations: { type: 'array', items: operationShape } });
export const backupShape = object({
  name: text,
  version: text,
  takenAt: at,
  sizeBytes: integer,
  reason: text,
  signed: boolean,
  verifiedAt: nullable(at),
  /** When this backup was last restored whole into a scratch database (a rehearsal, a drill). */
  provenAt: nullable(at),
});
export const backupsAnswer = object({ backups: { type: 'array', items: backupShape }, reportedAt: nullable(at) });

export const apiIndexAnswer = object({
  version: text,
  routes: { type: 'array', items: partly({ method: text, url: text, access: text, body: json, query: json }, ['method', 'url', 'access']) },
});

/** What a client reads (dates as the strings they arrive as). */
export type ApiError = FromSchema<typeof errorShape>;
export type User = FromSchema<typeof userShape>;
export type Users = FromSchema<typeof usersAnswer>;
export type UserAnswer = FromSchema<typeof userAnswer>;
export type Me = FromSchema<typeof meAnswer>;
export type Health = FromSchema<typeof healthAnswer>;
export type License = FromSchema<typeof licenseAnswer>;
export type Agent = FromSchema<typeof agentShape>;
export type Agents = FromSchema<typeof agentsAnswer>;
export type Enrolled = FromSchema<typeof enrolledAnswer>;
export type Claim = FromSchema<typeof claimAnswer>;
export type Execution = FromSchema<typeof executionShape>;
export type Incidents = FromSchema<typeof incidentsAnswer>;
export type IncidentAnswer = FromSchema<typeof incidentAnswer>;
export type IncidentDetail = FromSchema<typeof incidentDetailAnswer>;
export type Webhooks = FromSchema<typeof webhooksAnswer>;
export type Deliveries = FromSchema<typeof deliveriesAnswer>;
export type WebhookTest = FromSchema<typeof webhookTestAnswer>;
export type ApiIndex = FromSchema<typeof apiIndexAnswer>;
export type EnrollmentTokenCreated = FromSchema<typeof enrollmentTokenCreatedAnswer>;
export type WebhookCreated = FromSchema<typeof webhookCreatedAnswer>;
export type Tokens = FromSchema<typeof tokensAnswer>;
export type Operations = FromSchema<typeof operationsAnswer>;
export type Operation = FromSchema<typeof operationShape>;
export type Backups = FromSchema<typeof backupsAnswer>;
export type TokenCreated = FromSchema<typeof tokenCreatedAnswer>;
export type EnrollmentTokens = FromSchema<typeof enrollmentTokensAnswer>;
