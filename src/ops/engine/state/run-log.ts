import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { appendText } from '../../../shared/files.js';
import { runLogName } from '../../../shared/names.js';
import { redactSecrets } from '../../../shared/redact.js';
import type { RunLog } from '../../core/exec.js';

/**
 * One log file per run (`upgrade-<ts>.log`, `rollback-<ts>.log` in ATLAS_LOG_DIR): every step,
 * every command with its duration and outcome, timestamped (UTC), secrets redacted. Lines are
 * appended as they happen, so a run that is killed leaves its log up to that moment.
 */
export class RunLogFile implements RunLog {
  constructor(
    readonly file: string,
    private readonly secrets: readonly string[],
    private readonly echo?: (line: string) => void,
    /** When the run began: its log and its history lines are stamped with it. */
    readonly startedAt = new Date(),
  ) {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o750 });
  }

  static forRun(logDir: string, op: 'upgrade' | 'rollback' | 'drill', at: Date, secrets: readonly string[], echo?: (line: string) => void): RunLogFile {
    return new RunLogFile(path.join(logDir, runLogName(op, at)), secrets, echo, at);
  }

  write(line: string): void {
    const text = redactSecrets(line, this.secrets);
    appendText(this.file, `${new Date().toISOString()} ${text}\n`);
    this.echo?.(text);
  }
}
