import { rmSync } from 'node:fs';
import path from 'node:path';
import { isVersion, parseVersion, readVersionFile } from '../../../shared/version.js';
import { readJsonFile, writeFileAtomic } from '../../../shared/files.js';

/**
 * The local runtime's files in the data directory: releases side by side
 * (`releases/<version>/`), the version to run (`releases/current`), a version to start beside it
 * without traffic until it is promoted (`releases/candidate`), and the supervisor's status
 * (`local-runtime.json`) and log (`local-runtime.log`). This module writes and reads them.
 */
export const localFiles = (dataDir: string) => ({
  releases: path.join(dataDir, 'releases'),
  release: (version: string) => path.join(dataDir, 'releases', version),
  current: path.join(dataDir, 'releases', 'current'),
  candidate: path.join(dataDir, 'releases', 'candidate'),
  status: path.join(dataDir, 'local-runtime.json'),
  log: path.join(dataDir, 'local-runtime.log'),
});

export interface SupervisorStatus {
  supervisorPid: number;
  childPid: number | undefined;
  version: string;
  state: 'starting' | 'running' | 'crashed' | 'stopped';
  exitCode: number | undefined;
  restarts: number;
  /**
   * How many switches (SIGHUP) it has carried out: what tpctl waits on after asking for one, as a
   * crash-looping child's own restarts also change the rest. Absent from a supervisor of before.
   */
  switches?: number;
  since: string;
  /** A version run beside the one that serves, answering only on its own port until promoted. */
  candidate?: CandidateStatus | undefined;
}

export interface CandidateStatus {
  version: string;
  pid: number | undefined;
  /** Its private port on 127.0.0.1, where tpctl checks it. */
  port: number;
  state: 'starting' | 'running' | 'crashed';
  exitCode: number | undefined;
}

export const readCurrent = (dataDir: string): string | undefined => readVersionFile(localFiles(dataDir).current);

export function writeCurrent(dataDir: string, version: string): void {
  writeFileAtomic(localFiles(dataDir).current, `${parseVersion(version).text}\n`);
}

export const readCandidate = (dataDir: string): string | undefined => readVersionFile(localFiles(dataDir).candidate);

/** Names the candidate to run, or (undefined) none. */
export function writeCandidate(dataDir: string, version: string | undefined): void {
  if (version) writeFileAtomic(localFiles(dataDir).candidate, `${parseVersion(version).text}\n`);
  else rmSync(localFiles(dataDir).candidate, { force: true });
}

const STATES: readonly SupervisorStatus['state'][] = ['starting', 'running', 'crashed', 'stopped'];
const isPid = (n: unknown) => Number.isSafeInteger(n) && (n as number) > 1;
const validCandidate = (c: Partial<CandidateStatus>) =>
  isVersion(c.version) &&
  (c.pid === undefined || isPid(c.pid)) &&
  Number.isInteger(c.port) &&
  c.port! > 0 &&
  c.port! < 65536 &&
  ['starting', 'running', 'crashed'].includes(c.state as string);

/**
 * The supervisor's status, or undefined when there is none. tpctl signals the pids it names, so
 * a file not of its form (edited, or from something else) counts as none: never pid 1, 0 or -1.
 */
export function readStatus(dataDir: string): SupervisorStatus | undefined {
  const s = readJsonFile<Partial<SupervisorStatus>>(localFiles(dataDir).status);
  const valid =
    s &&
    isPid(s.supervisorPid) &&
    (s.childPid === undefined || isPid(s.childPid)) &&
    (s.version === '' || isVersion(s.version)) &&
    STATES.includes(s.state as SupervisorStatus['state']) &&
    Number.isSafeInteger(s.restarts) &&
    (s.switches === undefined || Number.isSafeInteger(s.switches)) &&
    typeof s.since === 'string' &&
    (s.candidate === undefined || validCandidate(s.candidate));
  return valid ? (s as SupervisorStatus) : undefined;
}

export function writeStatus(dataDir: string, status: SupervisorStatus): void {
  writeFileAtomic(localFiles(dataDir).status, `${JSON.stringify(status)}\n`);
}
