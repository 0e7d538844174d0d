import { readFileSync } from 'node:fs';
import path from 'node:path';

/** A runbook the agent offers: a program and its arguments (no shell), and how long it may run. */
export interface RunbookSpec {
  command: string[];
  timeoutSeconds: number;
  description?: string;
}

export interface AgentConfig {
  /** The Tenant Plane, e.g. http://127.0.0.1:3000 (https:// in production). */
  server: string;
  name: string;
  stateDir: string;
  checkinIntervalSeconds: number;
  /** Retries while the Tenant Plane is unreachable wait at most this long. */
  backoffCapSeconds: number;
  outputLimitBytes: number;
  /** The only runbooks this agent runs, whatever the Tenant Plane asks (a Map: a name the Tenant Plane sends is never looked up among an object's inherited properties). */
  runbooks: ReadonlyMap<string, RunbookSpec>;
}

export class AgentConfigError extends Error {}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;

function number(value: unknown, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new AgentConfigError(`${name} must be a number from ${min} to ${max}`);
  }
  return value;
}

/** Reads and checks the agent's JSON configuration; relative paths are relative to the file. */
export function loadAgentConfig(file: string): AgentConfig {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new AgentConfigError(`cannot read the agent configuration ${file}: ${(err as Error).message}`);
  }
  if (typeof raw.server !== 'string' || !/^https?:\/\/[^\s]+$/.test(raw.server))
    throw new AgentConfigError('server must be the Tenant Plane URL, e.g. https://tp.example.com');
  if (typeof raw.name !== 'string' || !NAME_RE.test(raw.name)) throw new AgentConfigError('name must be 1-100 letters, digits, _ . -');
  const runbooks = new Map<string, RunbookSpec>();
  for (const [name, spec] of Object.entries((raw.runbooks ?? {}) as Record<string, unknown>)) {
    const s = spec as Partial<RunbookSpec>;
    if (!NAME_RE.test(name)) throw new AgentConfigError(`runbook name "${name}" must be letters, digits, _ . -`);
    if (!Array.isArray(s.command) || s.command.length === 0 || !s.command.every((a) => typeof a === 'string')) {
      throw new AgentConfigError(`runbook ${name}: command must be a non-empty array of strings (the program and its arguments; no shell)`);
    }
    runbooks.set(name, {
      command: s.command,
      timeoutSeconds: number(s.timeoutSeconds, `runbook ${name}: timeoutSeconds`, 300, 1, 86_400),
      ...(s.description ? { description: String(s.description) } : {}),
    });
  }
  return {
    server: raw.server.replace(/\/+$/, ''),
    name: raw.name,
    stateDir: path.resolve(path.dirname(file), typeof raw.stateDir === 'string' ? raw.stateDir : './agent-state'),
    checkinIntervalSeconds: number(raw.checkinIntervalSeconds, 'checkinIntervalSeconds', 15, 0.1, 3600),
    backoffCapSeconds: number(raw.backoffCapSeconds, 'backoffCapSeconds', 30, 0.1, 3600),
    outputLimitBytes: number(raw.outputLimitBytes, 'outputLimitBytes', 64 * 1024, 1024, 64 * 1024),
    runbooks,
  };
}
