import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { EmbeddedInUseError } from '../db/embedded.js';
import type { Database } from '../db/database.js';
import { openDatabase } from '../db/open.js';
import type { DatabaseTarget } from '../ops/backup/create.js';
import type { CopyRoom } from '../ops/backup/rehearsal-copy.js';
import { backupKeys, type BackupKeys } from '../ops/backup/signing.js';
import { Executor, type RunLog } from '../ops/core/exec.js';
import { BAKE_DEFAULTS, type BakeSettings } from '../ops/probes/bake.js';
import type { VerifyAuth } from '../ops/probes/checklist.js';
import { tenantPlaneOverHttp, type TenantPlane } from '../ops/probes/tenant-plane.js';
import type { Runtime } from '../ops/runtimes/runtime.js';
import { refuseUnsafeDir } from '../shared/files.js';
import { urlSecrets } from '../shared/redact.js';
import { printable } from '../shared/version.js';
import { COMMON_SETTINGS, readDeployment, rememberDeployment, refuseOtherRuntime, settledEnvironment, type DeploymentRecord } from './deployment.js';
import { CliError, type Io } from './io.js';
import { RUNTIMES, runtimeKind, type RuntimeKind } from './runtimes.js';

/**
 * What every command is built from (model: the GitHub CLI's cmdutil.Factory): the environment,
 * read and checked once, on first use, and the clients made from it (the database, the Tenant
 * Plane over HTTP, the runtime). Commands parse their flags; this reads the variables.
 */
export class Factory {
  private readonly memo = new Map<string, unknown>();

  constructor(readonly io: Io) {}

  private once<T>(key: string, make: () => T): T {
    if (!this.memo.has(key)) this.memo.set(key, make());
    return this.memo.get(key) as T;
  }

  /** The variables a command works with: those given, over the deployment's remembered settings, which they must agree with. */
  get env(): Readonly<Record<string, string | undefined>> {
    return this.once('env', () => settledEnvironment(this.io.env, this.dataDir, this.deployment));
  }

  /** The deployment recorded in the data directory, if one was set up (deployment.ts). */
  get deployment(): DeploymentRecord | undefined {
    return this.once('deployment', () => readDeployment(this.dataDir));
  }

  /** Records the deployment as this command sets it up on `kind` (deployment.ts); a deployment on another runtime is refused. */
  remember(kind: RuntimeKind, by: string): void {
    const record = this.deployment;
    if (record) refuseOtherRuntime(record, this.dataDir, `${by} works on the ${kind} runtime`, kind);
    mkdirSync(this.dataDir, { recursive: true });
    rememberDeployment(this.dataDir, record, kind, this.env, by);
  }

  /** Seconds from a variable, checked: from 1 to 3600. */
  private seconds(name: string, fallback: number): number {
    const raw = this.env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0 || n > 3600) throw new CliError(`${name}=${printable(raw, 20)} is not valid: expected seconds, from 1 to 3600`);
    return n;
  }

  /** ATLAS_DATA_DIR, checked: tpctl keeps its state there (refuseUnsafeDir). */
  get dataDir(): string {
    return this.once('dataDir', () => {
      // Not from the deployment: the deployment is recorded in it.
      const dir = this.io.env.ATLAS_DATA_DIR || './data';
      refuseUnsafeDir(dir, 'data directory (ATLAS_DATA_DIR)');
      return dir;
    });
  }

  /** ATLAS_LOG_DIR as an absolute path (it is written into history lines and manifests that outlive the shell), checked. */
  get logDir(): string {
    return this.once('logDir', () => {
      const dir = path.resolve(this.env.ATLAS_LOG_DIR || COMMON_SETTINGS.ATLAS_LOG_DIR);
      refuseUnsafeDir(dir, 'log directory (ATLAS_LOG_DIR)');
      return dir;
    });
  }

  get backupKeep(): number {
    return this.once('backupKeep', () => {
      const raw = this.env.ATLAS_BACKUP_KEEP;
      if (raw === undefined || raw === '') return 10;
      const keep = Number(raw);
      if (!Number.isInteger(keep) || keep < 1 || keep > 10_000)
        throw new CliError(`ATLAS_BACKUP_KEEP=${raw.slice(0, 20)} is not valid: expected a whole number of backups, at least 1`);
      return keep;
    });
  }

  get healthUrl(): string {
    const healthUrl = this.env.HEALTH_URL || COMMON_SETTINGS.HEALTH_URL;
    if (!/^https?:\/\/[^\s]+$/.test(healthUrl)) throw new CliError('HEALTH_URL must be an http:// or https:// URL');
    return healthUrl;
  }

  get healthTimeoutMs(): number {
    return this.seconds('HEALTH_TIMEOUT', 60) * 1000;
  }

  /** ATLAS_REHEARSAL_LOCK_MS: a migration holding a lock longer than this on a rehearsal's copy is flagged (default 1000). */
  get rehearsalSettings(): { lockLimitMs: number } {
    const raw = this.env.ATLAS_REHEARSAL_LOCK_MS || '1000';
    if (!/^\d{1,7}$/.test(raw)) throw new CliError(`ATLAS_REHEARSAL_LOCK_MS=${printable(raw, 20)} is not valid: expected whole milliseconds`);
    return { lockLimitMs: Number(raw) };
  }

  /** ATLAS_REHEARSAL_ROOM_MB (the room the database server has for a copy; unset: not known) and ATLAS_REHEARSAL_MARGIN (default 1.5). */
  get copyRoom(): CopyRoom {
    const room = this.env.ATLAS_REHEARSAL_ROOM_MB;
    if (room && !/^\d{1,9}$/.test(room)) throw new CliError(`ATLAS_REHEARSAL_ROOM_MB=${printable(room, 20)} is not valid: expected whole megabytes`);
    const marginText = this.env.ATLAS_REHEARSAL_MARGIN || '1.5';
    const margin = Number(marginText);
    if (!/^\d+(\.\d+)?$/.test(marginText) || margin < 1 || margin > 10)
      throw new CliError(`ATLAS_REHEARSAL_MARGIN=${printable(marginText, 20)} is not valid: expected a number from 1 to 10`);
    return { roomMb: room ? Number(room) : undefined, margin };
  }

  get rolloutTimeoutMs(): number {
    return this.seconds('ROLLOUT_TIMEOUT', 300) * 1000;
  }

  /** The verification identity, from the environment only: never a password on the command line. */
  get verifyAuth(): VerifyAuth | undefined {
    if (this.env.ATLAS_VERIFY_TOKEN) return { token: this.env.ATLAS_VERIFY_TOKEN };
    if (this.env.ATLAS_VERIFY_EMAIL && this.env.ATLAS_VERIFY_PASSWORD) return { email: this.env.ATLAS_VERIFY_EMAIL, password: this.env.ATLAS_VERIFY_PASSWORD };
    if (this.env.ATLAS_VERIFY_EMAIL) throw new CliError('ATLAS_VERIFY_EMAIL is set without ATLAS_VERIFY_PASSWORD');
    return undefined;
  }

  /** The Tenant Plane as tpctl reaches it: HEALTH_URL, and the verification identity of the checklist. */
  get tenantPlane(): TenantPlane {
    return this.once('tenantPlane', () => {
      const auth = this.verifyAuth;
      const verify = auth && { auth, agentsWithinMs: this.seconds('ATLAS_VERIFY_AGENTS_WITHIN', 60) * 1000 };
      return tenantPlaneOverHttp(this.healthUrl, verify, this.env.ATLAS_METRICS_TOKEN || undefined);
    });
  }

  /** The bake's settings: ATLAS_BAKE_SECONDS (or --bake-seconds; 0 skips it), ATLAS_BAKE_MAX_LATENCY_RATIO, ATLAS_BAKE_WEBHOOK_TEST. */
  bakeSettings(flag: string | undefined): BakeSettings {
    const [name, raw] = flag === undefined ? ['ATLAS_BAKE_SECONDS', this.env.ATLAS_BAKE_SECONDS] : ['--bake-seconds', flag];
    const secondsText = raw === undefined || raw === '' ? String(BAKE_DEFAULTS.seconds) : raw;
    const bakeSeconds = Number(secondsText);
    if (!/^\d{1,4}$/.test(secondsText) || bakeSeconds > 3600)
      throw new CliError(`${name}=${printable(secondsText, 20)} is not valid: expected whole seconds, from 0 (no bake) to 3600`);
    const ratioText = this.env.ATLAS_BAKE_MAX_LATENCY_RATIO || String(BAKE_DEFAULTS.maxLatencyRatio);
    const ratio = Number(ratioText);
    if (!Number.isFinite(ratio) || ratio < 1 || ratio > 100)
      throw new CliError(`ATLAS_BAKE_MAX_LATENCY_RATIO=${printable(ratioText, 20)} is not valid: expected a number from 1 to 100`);
    const test = this.env.ATLAS_BAKE_WEBHOOK_TEST ?? '1';
    if (test !== '0' && test !== '1') throw new CliError('ATLAS_BAKE_WEBHOOK_TEST must be 0 or 1');
    return { ...BAKE_DEFAULTS, seconds: bakeSeconds, maxLatencyRatio: ratio, webhookTest: test === '1' };
  }

  /** The database a command works on: DB_URL (never a flag: a password must not reach the process list), else the embedded one. */
  get database(): DatabaseTarget {
    const dbUrl = this.env.DB_URL || undefined;
    if (dbUrl && !/^postgres(ql)?:\/\//.test(dbUrl)) throw new CliError('DB_URL must be a postgresql:// URL');
    return { dbUrl, dataDir: this.dataDir, keys: this.backupKeys() };
  }

  /**
   * The keys that sign and check backups: ATLAS_BACKUP_KEY_FILE, default backup-keys in the
   * data directory. ATLAS_TRUST_UNSIGNED=1 (or the command's --trust-unsigned) accepts a backup
   * that no key of the ring signed.
   */
  backupKeys(trustFlag = false): BackupKeys {
    const trust = this.env.ATLAS_TRUST_UNSIGNED ?? '';
    if (!['', '0', '1'].includes(trust)) throw new CliError('ATLAS_TRUST_UNSIGNED must be 1 (accept unsigned backups) or 0');
    return { keyFile: this.env.ATLAS_BACKUP_KEY_FILE || backupKeys({ dataDir: this.dataDir }).keyFile, trustUnsigned: trustFlag || trust === '1' };
  }

  /** The database, its backups checked with the keys, trusting unsigned ones when the command's flag says so. */
  databaseTrusting(trustFlag: boolean | undefined): DatabaseTarget {
    return { ...this.database, keys: this.backupKeys(Boolean(trustFlag)) };
  }

  /** The secrets a command must keep out of everything it prints. */
  get secrets(): string[] {
    return urlSecrets(this.env.DB_URL);
  }

  /** The one executor of a command's platform calls; with `log`, each command goes to the run log. */
  executor(log?: RunLog, secrets = this.secrets): Executor {
    return new Executor(log, secrets);
  }

  /** The runtime to work on: the deployment's, else --runtime, else ATLAS_RUNTIME, else compose. */
  runtimeKind(flag?: string): RuntimeKind {
    const record = this.deployment;
    if (!record) return runtimeKind(this.env, flag);
    if (flag !== undefined) refuseOtherRuntime(record, this.dataDir, `--runtime=${printable(flag, 20)}`, flag);
    return record.runtime;
  }

  /** The runtime to work on (--runtime, else ATLAS_RUNTIME, else compose), its commands run by `exec`. */
  runtime(kind: RuntimeKind, exec: Executor): Promise<Runtime> {
    return RUNTIMES[kind].create({ env: this.env, dataDir: this.dataDir, rolloutTimeoutMs: this.rolloutTimeoutMs }, exec);
  }

  /** The database, opened and reached, or a clear refusal. */
  async openDatabase(): Promise<Database> {
    const { dbUrl: url, dataDir } = this.database;
    let db: Database;
    try {
      db = await openDatabase({ url, embeddedDir: dataDir, poolSize: 2, applicationName: 'tpctl' });
    } catch (err) {
      if (err instanceof EmbeddedInUseError) throw new CliError(err.message);
      throw err;
    }
    try {
      await db.query('SELECT 1');
      return db;
    } catch (err) {
      await db.close().catch(() => {});
      throw new CliError(`cannot reach the database at ${db.location}: ${(err as Error).message}`, 'failed');
    }
  }
}
