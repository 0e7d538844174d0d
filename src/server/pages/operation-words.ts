import type { Operation } from '../../shared/api-shapes.js';

const seconds = (from: string | null, now: number) => (from ? Math.max(0, Math.round((now - Date.parse(from)) / 1000)) : 0);

/** The banner every page shows while tpctl runs: what, where it is, for how long. */
export function runningWords(op: Operation, now = Date.now()): string {
  const where = op.step ? ` — ${op.step}, ${seconds(op.stepStartedAt, now)} s in${op.stepWhat ? `: ${op.stepWhat}` : ''}` : '';
  return `${op.kind} ${op.from} → ${op.to} in progress${where} (started ${seconds(op.startedAt, now)} s ago by ${op.actor})`;
}

/** A run's outcome in a word or two, as the history shows it. */
export const STATE_WORDS: Record<Operation['state'], string> = {
  running: 'running',
  succeeded: 'succeeded',
  failed: 'failed, put back',
  'rolled-back': 'failed, rolled back',
  'needs-human': 'needs a human',
  refused: 'refused, nothing changed',
  interrupted: 'interrupted',
};
