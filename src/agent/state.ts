import { mkdirSync, readdirSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { readJsonFile, writeFileAtomic } from '../shared/files.js';
import type { RunbookResult } from './runner.js';

/**
 * The agent's own files in its state directory: its credential (0600), and the results of
 * finished executions not yet acknowledged by the Tenant Plane (written before they are sent,
 * removed once acknowledged), so that a result survives a restart or an outage.
 */
export interface Credential {
  agentId: string;
  credential: string;
  server: string;
}

export interface PendingResult extends RunbookResult {
  executionId: string;
}

export class AgentState {
  constructor(readonly dir: string) {
    mkdirSync(path.join(dir, 'results'), { recursive: true, mode: 0o700 });
  }

  private get credentialFile() {
    return path.join(this.dir, 'credential.json');
  }

  readCredential(): Credential | undefined {
    return readJsonFile<Credential>(this.credentialFile);
  }

  writeCredential(credential: Credential): void {
    writeFileAtomic(this.credentialFile, `${JSON.stringify(credential)}\n`, 0o600);
  }

  /** Results are named by their execution id, which the agent has checked is a UUID (claimedExecution). */
  saveResult(result: PendingResult): void {
    writeFileAtomic(path.join(this.dir, 'results', `${result.executionId}.json`), JSON.stringify(result), 0o600);
  }

  pendingResults(): PendingResult[] {
    return readdirSync(path.join(this.dir, 'results'))
      .filter((n) => n.endsWith('.json'))
      .flatMap((n) => readJsonFile<PendingResult>(path.join(this.dir, 'results', n)) ?? []);
  }

  acknowledge(executionId: string): void {
    try {
      unlinkSync(path.join(this.dir, 'results', `${executionId}.json`));
    } catch {
      /* already gone */
    }
  }
}
