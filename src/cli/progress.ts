import type { Progress } from '../ops/backup/create.js';

const mbps = (bytes: number, seconds: number) => `${(bytes / 1e6 / Math.max(seconds, 0.001)).toFixed(1)} MB/s`;

/** Bytes done of the estimated total, the rate, and the time left at that rate. */
function bytesDone(p: Progress, seconds: number): string {
  const rate = p.done / Math.max(seconds, 0.001);
  const left = p.total && p.total > p.done && rate > 0 ? `, about ${Math.ceil((p.total - p.done) / rate)} s left` : '';
  const of = p.total ? ` of ~${(p.total / 1e6).toFixed(0)} MB` : '';
  return `${(p.done / 1e6).toFixed(1)} MB${of}, ${mbps(p.done, seconds)}${left}`;
}

/**
 * Draws progress of long work (bytes done, rate, time left; or steps done) on one line of a
 * terminal, at most ten times a second and at each new phase; draws nothing when standard error
 * is not a terminal or for --json.
 */
export function progressLine(enabled: boolean, write: (text: string) => void): { update: (p: Progress) => void; done: () => void } {
  if (!enabled) return { update: () => {}, done: () => {} };
  let phase = '';
  let phaseStart = performance.now();
  let last = 0;
  let drawn = false;
  return {
    update: (p) => {
      const now = performance.now();
      if (p.phase !== phase) {
        phase = p.phase;
        phaseStart = last = now;
      } else if (now - last < 100) return;
      last = now;
      const seconds = (now - phaseStart) / 1000;
      write(`\r\x1b[2K${p.phase}: ${p.unit === 'steps' ? `${p.done} of ${p.total ?? '?'}, ${Math.round(seconds)} s` : bytesDone(p, seconds)}`);
      drawn = true;
    },
    done: () => {
      if (drawn) write('\r\x1b[2K');
    },
  };
}
