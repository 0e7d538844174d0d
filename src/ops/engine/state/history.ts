import { appendText, readTextIfPresent } from '../../../shared/files.js';
import { isVersion } from '../../../shared/version.js';

/**
 * `./data/.atlas-upgrade-history`: one line per upgrade or rollback, as the operator guide shows:
 *
 *   20260326T100000 1.2.2 -> 1.3.0 SUCCESS log:/var/log/atlas/upgrade-20260326T100000.log
 *   20260326T110000 1.2.2 -> 1.3.0 FAILED log:/var/log/atlas/upgrade-20260326T110000.log
 *   20260326T110012 ROLLBACK 1.3.0 -> 1.2.2 log:/var/log/atlas/upgrade-20260326T110000.log
 *   20260326T120000 ROLLBACK 1.3.0 -> 1.2.2 log:/var/log/atlas/rollback-20260326T120000.log
 *
 * FAILED marks an upgrade (or rollback) that did not become healthy (the ROLLBACK line after it
 * says where it went back to); INTERRUPTED a run that was killed (written by the run that found
 * it; a ROLLBACK line when it was on its way back); a ROLLBACK line may end FAILED too, when the
 * way back did not become healthy either. A rollback
 * that restored the database says so: `restored:<backup file>`; a run whose operator skipped its
 * rehearsal on a copy says `rehearsal:skipped`. This module is the only writer
 * and reader of the file; each line is appended with a single write.
 */
export type Outcome = 'SUCCESS' | 'FAILED' | 'INTERRUPTED';

export interface HistoryEntry {
  /** UTC, yyyymmddThhmmss. */
  at: string;
  kind: 'upgrade' | 'rollback';
  from: string;
  to: string;
  outcome: Outcome;
  log: string;
  restored?: string | undefined;
  /** The operator skipped the rehearsal (--no-rehearsal). */
  unrehearsed?: boolean | undefined;
}

export function formatHistoryLine(e: HistoryEntry): string {
  const restored = `${e.restored ? ` restored:${e.restored}` : ''}${e.unrehearsed ? ' rehearsal:skipped' : ''}`;
  if (e.kind === 'rollback') {
    const outcome = e.outcome === 'SUCCESS' ? '' : ` ${e.outcome}`;
    return `${e.at} ROLLBACK ${e.from} -> ${e.to}${outcome}${restored} log:${e.log}`;
  }
  return `${e.at} ${e.from} -> ${e.to} ${e.outcome}${restored} log:${e.log}`;
}

const LINE_RE = /^(\d{8}T\d{6}) (ROLLBACK )?(\S+) -> (\S+)(?: (SUCCESS|FAILED|INTERRUPTED))?(?: restored:(\S+))?( rehearsal:skipped)? log:(\S+)$/;

export function parseHistoryLine(line: string): HistoryEntry | undefined {
  const m = LINE_RE.exec(line.trim());
  if (!m) return undefined;
  const kind = m[2] ? 'rollback' : 'upgrade';
  const outcome = (m[5] as Outcome | undefined) ?? (kind === 'rollback' ? 'SUCCESS' : undefined);
  if (!outcome || !isVersion(m[3]) || !isVersion(m[4])) return undefined;
  return { at: m[1] ?? '', kind, from: m[3] ?? '', to: m[4] ?? '', outcome, restored: m[6], ...(m[7] ? { unrehearsed: true } : {}), log: m[8] ?? '' };
}

/** The history's entries in file order; lines that are not entries are skipped. */
export function readHistory(file: string): HistoryEntry[] {
  return (readTextIfPresent(file) ?? '').split('\n').flatMap((line) => parseHistoryLine(line) ?? []);
}

/** Appends one entry with a single write(2) on an O_APPEND descriptor: lines never interleave. */
export function appendHistory(file: string, entry: HistoryEntry): void {
  appendText(file, `${formatHistoryLine(entry)}\n`, 0o644);
}
