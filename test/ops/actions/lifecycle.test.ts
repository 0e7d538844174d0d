import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../../../src/cli/command.js';
import { BAKE_DEFAULTS } from '../../../src/ops/probes/bake.js';
import { describeOutcome } from '../../../src/cli/words.js';
import { execute, type OpsContext, type Plan } from '../../../src/ops/engine/engine.js';
import { output, type StepName } from '../../../src/ops/engine/step.js';
import { stateFiles } from '../../../src/ops/engine/state/files.js';
import type { Phase } from '../../../src/ops/engine/state/journal.js';
import { writeManifest } from '../../../src/ops/backup/manifest.js';
import type { Outcome } from '../../../src/ops/engine/outcome.js';
import type { ReleaseMetadata } from '../../../src/ops/core/release-metadata.js';
import { planRollback, rollback } from '../../../src/ops/actions/rollback.js';
import { readRunRecord } from '../../../src/ops/engine/state/run-record.js';
import { RunLogFile } from '../../../src/ops/engine/state/run-log.js';
import { planUpgrade, upgrade } from '../../../src/ops/actions/upgrade.js';
import type { Rehearsing } from '../../../src/ops/actions/plan.js';
import type { RehearsalReport } from '../../../src/ops/steps/outputs.js';
import { readHistory } from '../../../src/ops/engine/state/history.js';
import { scratchDatabaseName } from '../../../src/shared/names.js';
import { tempDir } from '../../support/temp.js';
import { DEAD_PID, FakePlatform, type Fault, type FaultKind } from '../../support/fake-platform.js';

/**
 * The lifecycle engine on a fake platform: every operation, a failure injected at every step of
 * its way forward and of its way back, and the process dying at every step (before and after
 * the step's effect), followed by the next run's recovery (itself failing or dying at each of
 * its steps). The cases are generated from the steps the operations declare and take, so a new
 * step is covered by construction. Each asserts the exit code, the history, the journal, the
 * run record and what runs at the end.
 */

interface Scenario {
  name: string;
  op: 'upgrade' | 'rollback';
  from: string;
  to: string;
  embedded?: boolean;
  /** Upgrade: take the pre-upgrade backup. */
  backup?: boolean;
  /** Rollback: restore a backup first. */
  restore?: boolean;
  /** The runtime starts the new version beside the old one (Compose with the proxy, the local runtime on PostgreSQL). */
  beside?: boolean;
  /** Steps that find nothing to do on this platform, so touch nothing a fault could hit. */
  touchesNothing?: StepName[];
}

/** The rehearsal of an upgrade, on a copy of the data. */
const REHEARSAL_STEPS = ['rehearse-copy', 'rehearse-migrate', 'rehearse-start', 'rehearse-journey', 'rehearse-remove'];

/** A bake of 20 ms, after a baseline of 10 ms, a round every 2 ms: the steps are there, and quick. */
const BAKE = { ...BAKE_DEFAULTS, seconds: 0.02, baselineMs: 10, roundMs: 2 };

const SCENARIOS: Scenario[] = [
  { name: 'upgrade', op: 'upgrade', from: '1.2.2', to: '1.3.0', backup: true },
  // The running Tenant Plane holds the embedded database: the target's check of it waits for its start.
  { name: 'upgrade on the embedded database', op: 'upgrade', from: '1.2.2', to: '1.3.0', backup: true, embedded: true, touchesNothing: ['schema-check'] },
  { name: 'upgrade without a backup', op: 'upgrade', from: '1.2.2', to: '1.3.0', backup: false },
  { name: 'rollback', op: 'rollback', from: '1.3.0', to: '1.2.2' },
  { name: 'rollback with a restore', op: 'rollback', from: '1.3.0', to: '1.2.2', restore: true },
  { name: 'upgrade beside the old version', op: 'upgrade', from: '1.2.2', to: '1.3.0', backup: true, beside: true },
  { name: 'rollback beside the old version', op: 'rollback', from: '1.3.0', to: '1.2.2', beside: true },
  // A restore stops the Tenant Plane: nothing runs beside it.
  { name: 'rollback with a restore, where candidates could run', op: 'rollback', from: '1.3.0', to: '1.2.2', restore: true, beside: true },
];

/** One platform and its data directory, and the runs made on it. */
class World {
  readonly dir = tempDir('atlas-engine-');
  readonly platform: FakePlatform;
  readonly backupFile = path.join(this.dir, 'db-backup-1.2.2-20260326T100000.sql.gz');
  private runs = 0;

  constructor(readonly s: Scenario) {
    this.platform = new FakePlatform(this.dir, s.from, ['1.2.2', '1.3.0'], { embedded: s.embedded, beside: s.beside });
    writeFileSync(this.backupFile, 'a backup');
  }

  ctx(): OpsContext {
    const log = new RunLogFile(path.join(this.dir, 'logs', `run-${++this.runs}.log`), []);
    return {
      settings: { dataDir: this.dir, healthTimeoutMs: 30, bake: BAKE, rehearsal: { lockLimitMs: 1000 } },
      runtime: this.platform,
      tenantPlane: this.platform,
      database: this.platform.database,
      log,
      previousVersion: this.platform.previousVersion,
    };
  }

  /** The scenario's operation; `rehearsal: 'no'` for what only production shows (a version that crashes would crash on a copy too). */
  operate(rehearsal: Rehearsing = 'yes'): Promise<Outcome> {
    const { s } = this;
    if (s.op === 'upgrade') return upgrade({ to: s.to, backup: Boolean(s.backup), rehearsal, label: 'tpctl upgrade (test)' }, this.ctx());
    return rollback({ to: s.to, restore: s.restore ? this.backupFile : undefined, rehearsal, label: 'tpctl rollback (test)' }, this.ctx());
  }

  /** The next `tpctl rollback`, with no target: it leads a killed run back. */
  recover(): Promise<Outcome> {
    return rollback({ to: undefined, restore: undefined, label: 'tpctl rollback (the next run)' }, this.ctx());
  }

  /** The plan's steps, and which of them are the rehearsal's (on a copy, apart from production). */
  async plannedSteps(): Promise<{ steps: StepName[]; rehearsal: StepName[] }> {
    const { s } = this;
    const plan =
      s.op === 'upgrade'
        ? await planUpgrade({ to: s.to, backup: Boolean(s.backup), label: '' }, this.ctx())
        : await planRollback({ to: s.to, restore: s.restore ? this.backupFile : undefined, label: '' }, this.ctx());
    if (!('steps' in plan)) throw new Error('nothing planned');
    return { steps: plan.steps.map((step) => step.name), rehearsal: plan.steps.filter((step) => step.rehearsal).map((step) => step.name) };
  }

  /** What a rehearsal leaves when it is done, failed or refused: no copy on the server, no version apart. */
  expectNoRehearsalLeft(): void {
    expect({ copies: [...this.platform.database.copies], apart: this.platform.apartRunning }).toEqual({ copies: [], apart: undefined });
  }

  /** The history without times and logs. */
  history(): string[] {
    const file = stateFiles(this.dir).history;
    if (!existsSync(file)) return [];
    return readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^\d{8}T\d{6} /, '').replace(/ log:\S+$/, ''));
  }

  /** The process is gone: its lock names a pid no process has. */
  killed(): void {
    const lock = stateFiles(this.dir).lock;
    writeFileSync(lock, JSON.stringify({ ...(JSON.parse(readFileSync(lock, 'utf8')) as object), pid: DEAD_PID }));
  }

  /** The operation, killed by the faults given; returns the version configured when it died. */
  async killedBy(...faults: Fault[]): Promise<string> {
    this.platform.inject(...faults);
    await this.dies(() => this.operate());
    return this.platform.configured;
  }

  /** Runs until an injected death; the lock is left as a killed process leaves it. */
  async dies(run: () => Promise<Outcome>): Promise<void> {
    const first = await Promise.race([run().then((o) => ({ outcome: o })), this.platform.died.then((f) => ({ died: f }))]);
    if (!('died' in first)) throw new Error(`expected the run to die, it ended ${first.outcome.kind}: ${describeOutcome(first.outcome)}`);
    this.killed();
  }

  /** What every finished run leaves: no journal, no lock, the record on disk as returned. */
  expectFinished(outcome: Outcome): void {
    expect(existsSync(stateFiles(this.dir).journal)).toBe(false);
    expect(existsSync(stateFiles(this.dir).lock)).toBe(false);
    expect(this.platform.unfired()).toEqual([]);
    if ('run' in outcome && outcome.run) expect(readRunRecord(outcome.run.log)).toEqual(outcome.run);
  }

  expectRuns(version: string): void {
    expect({ configured: this.platform.configured, running: this.platform.running, healthy: this.platform.healthy }).toEqual({
      configured: version,
      running: version,
      healthy: true,
    });
  }
}

const line = (s: Scenario, outcome: string, restored?: string) =>
  `${s.op === 'rollback' ? 'ROLLBACK ' : ''}${s.from} -> ${s.to}${s.op === 'upgrade' || outcome !== 'SUCCESS' ? ` ${outcome}` : ''}${restored ? ` restored:${restored}` : ''}`;
const rollbackLine = (from: string, to: string, outcome = 'SUCCESS') => `ROLLBACK ${from} -> ${to}${outcome === 'SUCCESS' ? '' : ` ${outcome}`}`;
const wayBackSteps = (o: Outcome) => ('run' in o && o.run ? o.run.steps.filter((s) => s.phase === 'way-back').map((s) => s.step) : []);
const DEATHS: FaultKind[] = ['die-before', 'die-after'];
const fault = (step: StepName, phase: Phase, how: FaultKind): Fault => ({ step, phase, how });

/** The steps each scenario takes, found by running it: forward; back from each failure; and the recovery after each death. */
async function discover(s: Scenario) {
  const clean = new World(s);
  const { steps: declared, rehearsal } = await clean.plannedSteps();
  await clean.operate();
  const touchesNothing = declared.filter((step) => !clean.platform.calledIn.has(step));
  const forward = declared.filter((step) => !touchesNothing.includes(step));
  const back = new Map<StepName, StepName[]>();
  const recovery = new Map<StepName, StepName[]>();
  const phaseOf = (step: StepName): Phase => (rehearsal.includes(step) ? 'rehearsal' : 'forward');
  for (const step of forward) {
    // A failure in the rehearsal is a refusal: no way back (its own removal is tested apart).
    const failing = new World(s);
    failing.platform.inject(fault(step, phaseOf(step), 'fail'));
    back.set(step, rehearsal.includes(step) ? [] : wayBackSteps(await failing.operate()));
    const dying = new World(s);
    dying.platform.inject(fault(step, phaseOf(step), 'die-before'));
    await dying.dies(() => dying.operate());
    const recovered = await dying.recover();
    recovery.set(step, recovered.recovery?.run?.steps.map((r) => r.step) ?? []);
  }
  return { s, declared, rehearsal, phaseOf, touchesNothing, forward, back, recovery };
}

const MATRIX = await Promise.all(SCENARIOS.map(discover));

describe.each(MATRIX)('$s.name', ({ s, declared, rehearsal, phaseOf, touchesNothing, forward, back, recovery }) => {
  const restoredBefore = (step: StepName, w: World) => (s.restore && forward.indexOf('restore') < forward.indexOf(step) ? w.backupFile : undefined);
  // Beside the old version, the switch is the start of the candidate (its undo goes back).
  const switchedAt = (step: StepName) => forward.indexOf(step) >= Math.max(forward.indexOf('switch'), forward.indexOf('start-candidate'));
  // A killed run is led back to the version it left (an upgrade, or anything killed in its
  // rehearsal: it had changed nothing), or completed (a rollback).
  const targetAfter = (step: StepName) => (s.op === 'upgrade' || rehearsal.includes(step) ? s.from : s.to);

  it('runs its declared steps, records SUCCESS and leaves the target running', async () => {
    const w = new World(s);
    const outcome = await w.operate();
    expect(outcome.kind).toBe('done');
    expect(EXIT_CODES[outcome.kind]).toBe(0);
    expect(outcome.kind === 'done' && outcome.run?.steps.map((r) => r.step)).toEqual(declared);
    // The faults below are injected at every step that touches the platform: these do not.
    expect(touchesNothing).toEqual(s.touchesNothing ?? []);
    expect(w.history()).toEqual([line(s, 'SUCCESS', s.restore ? w.backupFile : undefined)]);
    w.expectRuns(s.to);
    w.expectNoRehearsalLeft();
    expect(w.platform.database.data).toBe(s.restore ? `restored from ${path.basename(w.backupFile)}` : 'live');
    if (s.op === 'upgrade') expect(readFileSync(stateFiles(w.dir).previous, 'utf8')).toBe(`${s.from}\n`);
    w.expectFinished(outcome);
  });

  // The rehearsal works on a copy: what fails there refuses the operation, production untouched.
  describe.each(forward.filter((step) => rehearsal.includes(step)))('a failure in the rehearsal, at %s', (step) => {
    it('refuses: exit 2, no history line, production as it was, the copy and the version apart removed', async () => {
      const w = new World(s);
      w.platform.inject(fault(step, 'rehearsal', 'fail'));
      const outcome = await w.operate();
      expect(outcome.kind).toBe('refused');
      expect(EXIT_CODES[outcome.kind]).toBe(2);
      expect(outcome.kind === 'refused' && outcome.reason).toMatch(new RegExp(`^the rehearsal failed at ${step}: fault: `));
      expect(w.history()).toEqual([]);
      expect(w.platform.touched).toBe(0);
      w.expectRuns(s.from);
      expect(w.platform.database.data).toBe('live');
      w.expectNoRehearsalLeft();
      w.expectFinished(outcome);
    });

    it('and the removal of the copy failing too: still refused, the copy named to drop by hand; the next rehearsal of a killed run removes it', async () => {
      const w = new World(s);
      w.platform.inject(fault(step, 'rehearsal', 'fail'), fault('remove-rehearsal', 'rehearsal', 'fail'));
      const outcome = await w.operate();
      expect(outcome.kind).toBe('refused');
      expect(outcome.kind === 'refused' && outcome.reason).toMatch(/what the rehearsal made could not be removed: .*fault: /);
      expect(w.history()).toEqual([]);
      expect(w.platform.touched).toBe(0);
      w.expectRuns(s.from);
      w.expectFinished(outcome);
    });

    it.each(DEATHS)('and dying while removing the copy (%s): the next run removes it and finds nothing else to lead back', async (how) => {
      const w = new World(s);
      await w.killedBy(fault(step, 'rehearsal', 'fail'), fault('remove-rehearsal', 'rehearsal', how));
      const outcome = await w.recover();
      expect(outcome.kind).toBe('done');
      // Nothing was switched: the run is recorded as the interrupted operation it was.
      expect(w.history()).toEqual([line(s, 'INTERRUPTED')]);
      expect(w.platform.touched).toBe(0);
      w.expectRuns(s.from);
      w.expectNoRehearsalLeft();
      w.expectFinished(outcome);
    });
  });

  describe.each(forward.filter((step) => !rehearsal.includes(step)))('a failure at %s', (step) => {
    it('goes back: exit 1, FAILED (and the ROLLBACK line once it had switched), the version it started from healthy, its data', async () => {
      const w = new World(s);
      w.platform.inject(fault(step, 'forward', 'fail'));
      const outcome = await w.operate();
      expect(outcome.kind).toBe('failed');
      expect(EXIT_CODES[outcome.kind]).toBe(1);
      if (outcome.kind !== 'failed') return;
      expect(outcome.run.failure?.step).toBe(step);
      expect(outcome.run.outcome).toBe('failed');
      expect(w.history()).toEqual([line(s, 'FAILED', restoredBefore(step, w)), ...(switchedAt(step) ? [rollbackLine(s.to, s.from)] : [])]);
      w.expectRuns(s.from);
      expect(w.platform.database.data).toBe('live');
      expect(outcome.now).toEqual({ version: s.from, health: w.platform.touched ? 'healthy' : 'untouched' });
      expect(describeOutcome(outcome)).toContain(`FAILED at ${step}`);
      w.expectFinished(outcome);
    });

    it.each(back.get(step)!)(`and a failure on the way back at %s needs a human: exit 3, both failures recorded`, async (wayBack) => {
      const w = new World(s);
      w.platform.inject(fault(step, 'forward', 'fail'), fault(wayBack, 'way-back', 'fail'));
      const outcome = await w.operate();
      if (wayBack === 'checklist') {
        // On the way back to the known version the checklist is reported, not acted on.
        expect(outcome.kind).toBe('failed');
        w.expectRuns(s.from);
        return w.expectFinished(outcome);
      }
      expect(outcome.kind).toBe('needs-human');
      expect(EXIT_CODES[outcome.kind]).toBe(3);
      if (outcome.kind !== 'needs-human') return;
      expect(outcome.run.failure?.step).toBe(step);
      expect(outcome.run.wayBack?.step).toBe(wayBack);
      expect(w.history()).toEqual([line(s, 'FAILED', restoredBefore(step, w)), ...(switchedAt(step) ? [rollbackLine(s.to, s.from, 'FAILED')] : [])]);
      expect(outcome.now).toEqual({ version: w.platform.configured, health: 'not healthy' });
      expect(outcome.next).toContainEqual({ do: 'rollback', to: s.from });
      expect(describeOutcome(outcome)).toMatch(/needs a human/);
      w.expectFinished(outcome);
    });

    it.each(back.get(step)!.flatMap((wayBack) => DEATHS.map((how) => [wayBack, how] as const)))(
      'and dying on the way back at %s (%s), the next run leads back to the version it started from',
      async (wayBack, how) => {
        const w = new World(s);
        const configured = await w.killedBy(fault(step, 'forward', 'fail'), fault(wayBack, 'way-back', how));
        const outcome = await w.recover();
        expect(outcome.kind).toBe('done');
        expect(w.history()).toEqual([
          line(s, 'FAILED', restoredBefore(step, w)),
          rollbackLine(s.to, s.from, 'INTERRUPTED'),
          ...(configured !== s.from ? [rollbackLine(configured, s.from)] : []),
        ]);
        w.expectRuns(s.from);
        expect(outcome.recovery?.restoredMayRemain).toBe(restoredBefore(step, w));
        w.expectFinished(outcome);
      },
    );
  });

  describe.each(forward)('the process dying at %s', (step) => {
    const target = targetAfter(step);
    it.each(DEATHS)('(%s): the next run records INTERRUPTED and leads back to a healthy known version', async (how) => {
      const w = new World(s);
      const configured = await w.killedBy(fault(step, phaseOf(step), how));
      const outcome = await w.recover();
      expect(outcome.kind).toBe('done');
      expect(EXIT_CODES[outcome.kind]).toBe(0);
      expect(outcome.recovery?.interrupted).toMatchObject({ op: s.op, from: s.from, to: s.to, step, phase: phaseOf(step) });
      expect(w.history()).toEqual([line(s, 'INTERRUPTED'), ...(configured !== target ? [rollbackLine(configured, target)] : [])]);
      w.expectRuns(target);
      if (s.op === 'upgrade') expect(w.platform.database.data).toBe('live');
      w.expectNoRehearsalLeft();
      expect(describeOutcome(outcome)).toMatch(new RegExp(`^recovered the interrupted ${s.op} ${s.from} -> ${s.to}: ${target} runs and is healthy`));
      w.expectFinished(outcome);
    });

    it.each(recovery.get(step)!)('and the recovery failing at %s needs a human: exit 3, recorded', async (recoveryStep) => {
      const w = new World(s);
      const configured = await w.killedBy(fault(step, phaseOf(step), 'die-before'));
      w.platform.inject(fault(recoveryStep, 'forward', 'fail'));
      const outcome = await w.recover();
      if (recoveryStep === 'checklist') {
        expect(outcome.kind).toBe('done');
        return w.expectRuns(target);
      }
      expect(outcome.kind).toBe('needs-human');
      expect(EXIT_CODES[outcome.kind]).toBe(3);
      expect(w.history()).toEqual([line(s, 'INTERRUPTED'), rollbackLine(configured, target, 'FAILED')]);
      expect(outcome.kind === 'needs-human' && outcome.next).toContainEqual({ do: 'rollback', to: target });
      expect(describeOutcome(outcome)).toMatch(new RegExp(`the interrupted ${s.op} .* could not be led back to ${target}`));
      w.expectFinished(outcome);
    });

    it.each(recovery.get(step)!)('and the recovery dying at %s too, the run after it still leads back', async (recoveryStep) => {
      const w = new World(s);
      const configured = await w.killedBy(fault(step, phaseOf(step), 'die-before'));
      w.platform.inject(fault(recoveryStep, 'forward', 'die-after'));
      await w.dies(() => w.recover());
      const again = w.platform.configured;
      const outcome = await w.recover();
      expect(outcome.kind).toBe('done');
      expect(w.history()).toEqual([
        line(s, 'INTERRUPTED'),
        rollbackLine(configured, target, 'INTERRUPTED'),
        ...(again !== target ? [rollbackLine(again, target)] : []),
      ]);
      w.expectRuns(target);
      w.expectFinished(outcome);
    });
  });
});

describe('the engine, beyond the matrix', () => {
  const upgradeScenario = SCENARIOS[0]!;
  const rollbackScenario = SCENARIOS[3]!;

  it('the double failure: a rollback whose target and way back both fail to start exits 3 and records both', async () => {
    const w = new World(rollbackScenario);
    w.platform.broken.add('1.2.2').add('1.3.0'); // both fail at their next start
    const outcome = await w.operate('no');
    expect(outcome.kind).toBe('needs-human');
    expect(w.history()).toEqual(['ROLLBACK 1.3.0 -> 1.2.2 FAILED rehearsal:skipped', 'ROLLBACK 1.2.2 -> 1.3.0 FAILED']);
    expect(outcome.kind === 'needs-human' && outcome.run.wayBack).toMatchObject({
      step: 'wait-healthy',
      reason: expect.stringMatching(/crashed: 1\.3\.0 exited with 1/) as unknown,
    });
    expect(describeOutcome(outcome)).toMatch(
      /^rollback to 1\.2\.2 FAILED at wait-healthy \(.*\) and the way back to 1\.3\.0 FAILED at wait-healthy too .*needs a human: read \S+, then ATLAS_VERSION=1\.3\.0 bash scripts\/rollback-tp\.sh/,
    );
    w.expectFinished(outcome);
  });

  it('a target that answers healthy, but as another version, never counts: the rehearsal refuses it; without one, it goes back after the health timeout', async () => {
    const rehearsed = new World(upgradeScenario);
    rehearsed.platform.answersAs.set('1.3.0', '1.3.0-rc.9');
    const refused = await rehearsed.operate();
    expect(refused.kind === 'refused' && refused.reason).toMatch(
      /^the rehearsal on a copy of the data refused it, and production was not touched: 1\.3\.0 did not become healthy on a copy of the data: .*it answers for version 1\.3\.0-rc\.9, not 1\.3\.0/,
    );
    expect({ history: rehearsed.history(), touched: rehearsed.platform.touched }).toEqual({ history: [], touched: 0 });
    rehearsed.expectNoRehearsalLeft();

    const w = new World(upgradeScenario);
    w.platform.answersAs.set('1.3.0', '1.3.0-rc.9');
    const outcome = await upgrade({ to: '1.3.0', backup: true, rehearsal: 'no', label: 'test' }, w.ctx());
    expect(outcome.kind === 'failed' && outcome.run.failure).toMatchObject({
      step: 'wait-healthy',
      reason: expect.stringMatching(/it answers for version 1\.3\.0-rc\.9, not 1\.3\.0/) as unknown,
    });
    // The history says the operator went on without the rehearsal.
    expect(w.history()).toEqual(['1.2.2 -> 1.3.0 FAILED rehearsal:skipped', 'ROLLBACK 1.3.0 -> 1.2.2']);
    w.expectRuns('1.2.2');
  });

  it('an upgrade whose target crashes is refused by its rehearsal; without one, it goes back without waiting out the health timeout', async () => {
    const rehearsed = new World(upgradeScenario);
    rehearsed.platform.broken.add('1.3.0');
    const refused = await rehearsed.operate();
    expect(refused.kind === 'refused' && refused.reason).toMatch(
      /1\.3\.0 did not become healthy on a copy of the data: the Tenant Plane crashed: 1\.3\.0 apart exited with 1/,
    );
    expect({ history: rehearsed.history(), touched: rehearsed.platform.touched }).toEqual({ history: [], touched: 0 });
    rehearsed.expectRuns('1.2.2');
    rehearsed.expectNoRehearsalLeft();

    const w = new World(upgradeScenario);
    w.platform.broken.add('1.3.0');
    const outcome = await w.operate('no');
    expect(outcome.kind).toBe('failed');
    expect(outcome.kind === 'failed' && outcome.run.failure?.reason).toMatch(/^the Tenant Plane crashed: 1\.3\.0 exited with 1/);
    expect(w.history()).toEqual(['1.2.2 -> 1.3.0 FAILED rehearsal:skipped', 'ROLLBACK 1.3.0 -> 1.2.2']);
    w.expectRuns('1.2.2');
  });

  it('an upgrade that goes back puts the previous version back as it was: a rollback still means the version before', async () => {
    for (const before of ['1.1.0\n', undefined]) {
      const w = new World(upgradeScenario);
      if (before) writeFileSync(stateFiles(w.dir).previous, before);
      w.platform.broken.add('1.3.0');
      expect((await w.operate('no')).kind).toBe('failed');
      expect(existsSync(stateFiles(w.dir).previous) ? readFileSync(stateFiles(w.dir).previous, 'utf8') : undefined).toBe(before);
    }
  });

  it('a target that is healthy but slow fails the bake and goes back, with the figures in the record', async () => {
    const w = new World(upgradeScenario);
    w.platform.slow.add('1.3.0');
    const ctx = w.ctx();
    // Long enough for the latency to be judged (past the warm-up, 20 samples).
    const outcome = await upgrade({ to: '1.3.0', backup: true, label: 'test' }, { ...ctx, settings: { ...ctx.settings, bake: { ...BAKE, seconds: 0.3 } } });
    expect(outcome.kind).toBe('failed');
    if (outcome.kind !== 'failed') return;
    expect(outcome.run.failure).toMatchObject({
      step: 'bake',
      reason: expect.stringMatching(/^p95 of GET \/api\/health 50 ms against 1 ms before \(x50\.0 > x3, floor 10 ms\)/) as unknown,
    });
    expect(outcome.run.bake).toMatchObject({ baseline: { routes: { 'GET /api/health': { p95: 1 } } }, bake: { routes: { 'GET /api/health': { p95: 50 } } } });
    expect(w.history()).toEqual(['1.2.2 -> 1.3.0 FAILED', 'ROLLBACK 1.3.0 -> 1.2.2']);
    w.expectRuns('1.2.2');
  });

  it('ATLAS_BAKE_SECONDS=0: no baseline and no bake, and the record says the bake was skipped', async () => {
    const w = new World(upgradeScenario);
    const ctx = w.ctx();
    const outcome = await upgrade({ to: '1.3.0', backup: true, label: 'test' }, { ...ctx, settings: { ...ctx.settings, bake: { ...BAKE, seconds: 0 } } });
    expect(outcome.kind === 'done' && outcome.run).toMatchObject({
      bake: { skipped: true },
      steps: ['preflight', 'path-check', 'schema-check', 'backup', ...REHEARSAL_STEPS, 'previous-version', 'switch', 'wait-healthy', 'verify', 'checklist'].map(
        (step) => ({
          step,
        }),
      ),
    });
  });

  it.each([upgradeScenario, SCENARIOS[4]!])(
    'a dry run of the $name shows the planned steps, their undos and the way back, and changes nothing',
    async (scenario) => {
      const w = new World(scenario);
      const lines: string[] = [];
      const ctx = { ...w.ctx(), log: { file: '(dry run)', write: (line: string) => lines.push(line) } };
      const request = { to: scenario.to, backup: true, restore: scenario.restore ? w.backupFile : undefined, label: 'test', dryRun: true };
      const outcome = scenario.op === 'upgrade' ? await upgrade(request, ctx) : await rollback(request, ctx);
      expect(outcome.kind === 'done' && outcome.preview?.steps.map((s) => s.step)).toEqual((await w.plannedSteps()).steps);
      expect(outcome.kind === 'done' && outcome.preview?.steps.find((s) => s.step === 'switch')?.undo?.step).toBe('roll-back');
      expect(describeOutcome(outcome)).toMatch(
        new RegExp(`^dry run: ${scenario.op} ${scenario.from} -> ${scenario.to}; nothing was changed\nsteps:\n  preflight `),
      );
      expect({ touched: w.platform.touched, history: w.history(), data: w.platform.database.data }).toEqual({ touched: 0, history: [], data: 'live' });
      expect(existsSync(stateFiles(w.dir).journal) || existsSync(stateFiles(w.dir).lock) || existsSync(stateFiles(w.dir).previous)).toBe(false);
    },
  );

  it('refuses, with nothing recorded or changed, a target that is not available', async () => {
    const w = new World({ ...upgradeScenario, to: '9.9.9' });
    const outcome = await w.operate();
    expect(outcome).toMatchObject({ kind: 'refused', reason: 'version 9.9.9 is not available' });
    expect(EXIT_CODES[outcome.kind]).toBe(2);
    expect(w.history()).toEqual([]);
    expect(w.platform.touched).toBe(0);
    w.expectFinished(outcome);
  });

  it('refuses a downgrade through upgrade, naming the rollback to use', async () => {
    const w = new World(rollbackScenario);
    const outcome = await upgrade({ to: '1.2.2', backup: true, label: 'test' }, w.ctx());
    expect(outcome).toMatchObject({
      kind: 'refused',
      reason: '1.2.2 is older than 1.3.0, which runs: an upgrade only goes forward',
      next: [{ do: 'rollback', to: '1.2.2' }],
    });
    expect(describeOutcome(outcome)).toBe(
      '1.2.2 is older than 1.3.0, which runs: an upgrade only goes forward; ATLAS_VERSION=1.2.2 bash scripts/rollback-tp.sh\nnothing was changed',
    );
    expect(w.platform.touched).toBe(0);
  });

  it('refuses a "rollback" to a newer version, naming the upgrade to use', async () => {
    const w = new World(upgradeScenario);
    const outcome = await rollback({ to: '1.3.0', restore: undefined, label: 'test' }, w.ctx());
    expect(outcome).toMatchObject({ kind: 'refused' });
    expect(describeOutcome(outcome)).toBe(
      '1.3.0 is newer than 1.2.2, which runs: a rollback goes back; going forward is an upgrade: ATLAS_VERSION=1.3.0 bash scripts/upgrade-tp.sh\nnothing was changed',
    );
    expect({ touched: w.platform.touched, history: w.history() }).toEqual({ touched: 0, history: [] });
  });

  it('every history line of a run carries the stamp its log is named by (its start), a killed run the one of its own start', async () => {
    const at = (w: World, iso: string) => ({ ...w.ctx(), log: new RunLogFile(path.join(w.dir, 'logs', 'run.log'), [], undefined, new Date(iso)) });
    const failed = new World(upgradeScenario);
    failed.platform.broken.add('1.3.0');
    await upgrade({ to: '1.3.0', backup: true, rehearsal: 'no', label: 'test' }, at(failed, '2026-03-26T10:00:00.900Z'));
    const stamps = (w: World) => readFileSync(stateFiles(w.dir).history, 'utf8').match(/^\d{8}T\d{6}/gm);
    expect(stamps(failed)).toEqual(['20260326T100000', '20260326T100000']);

    const killed = new World(upgradeScenario);
    killed.platform.inject(fault('switch', 'forward', 'die-after'));
    await killed.dies(() => upgrade({ to: '1.3.0', backup: true, label: 'test' }, at(killed, '2026-03-26T11:00:00Z')));
    await rollback({ to: undefined, restore: undefined, label: 'test' }, at(killed, '2026-03-26T12:00:00Z'));
    expect(stamps(killed)).toEqual(['20260326T110000', '20260326T120000']);
    expect(killed.history()).toEqual(['1.2.2 -> 1.3.0 INTERRUPTED', 'ROLLBACK 1.3.0 -> 1.2.2']);
  });

  it('a run killed in its first step and the next run, started in the same millisecond, are two runs to the fake: the fault armed for the next fires in it', async () => {
    // The fake once knew a run by its start: on a fast disk the next run began in the same
    // millisecond, and the failure armed for it was taken for the killed run's and never fired.
    const w = new World(rollbackScenario);
    const run = (log: string) => ({ ...w.ctx(), log: new RunLogFile(path.join(w.dir, 'logs', log), [], undefined, new Date('2026-03-26T10:00:00.000Z')) });
    w.platform.inject(fault('preflight', 'forward', 'die-before'));
    await w.dies(() => rollback({ to: '1.2.2', restore: undefined, label: 'test' }, run('killed.log')));
    w.platform.inject(fault('wait-healthy', 'forward', 'fail'));
    const outcome = await rollback({ to: undefined, restore: undefined, label: 'test' }, run('next.log'));
    expect(outcome.kind).toBe('needs-human');
    w.expectFinished(outcome);
  });

  it('refuses a restore that needs the database when there is none', async () => {
    const w = new World(SCENARIOS[4]!);
    const outcome = await rollback({ to: '1.2.2', restore: w.backupFile, label: 'test' }, { ...w.ctx(), database: undefined });
    expect(outcome).toMatchObject({ kind: 'refused', reason: 'restoring needs the database', next: [{ do: 'set', setting: 'database' }] });
    expect(w.platform.touched).toBe(0);
  });

  it('a rollback with a restore reports what the restore discarded, and with keepNew asks for the rows created since', async () => {
    for (const keepNew of [false, true]) {
      const w = new World(SCENARIOS[4]!);
      const outcome = await rollback({ to: '1.2.2', restore: w.backupFile, keepNew, label: 'test' }, w.ctx());
      expect(outcome.kind).toBe('done');
      expect(w.platform.database.data).toBe(`restored from ${path.basename(w.backupFile)}${keepNew ? ', with the rows created since' : ''}`);
      const run = outcome.kind === 'done' ? outcome.run : undefined;
      expect(run?.sinceBackup?.tables).toEqual([expect.objectContaining({ table: 'incidents', created: 1 })]);
      expect(readRunRecord(run!.log)?.sinceBackup).toEqual(run?.sinceBackup);
      const lines = describeOutcome(outcome).split('\n').slice(1);
      expect(lines.pop()).toMatch(/^rehearsal: backup restored in [\d.]+ s \(row counts match\), 1\.2\.2 healthy on the copy in [\d.]+ s, journey 2\/2$/);
      expect(lines).toEqual([
        `since the backup: 1 row created (${keepNew ? '1 carried over, 0 discarded' : 'discarded'}), 0 changed (the backup's values come back), 0 deleted (they come back), in 1 of 1 tables`,
        'incidents: 1 created, 0 changed, 0 deleted since the backup',
        ...(keepNew ? ['  carried over: 1 of 1'] : []),
      ]);
    }
  });

  it('a second operation while one holds the lock is locked out, and says who holds it', async () => {
    const w = new World(upgradeScenario);
    writeFileSync(
      stateFiles(w.dir).lock,
      JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), since: '2026-12-01T10:00:00.000Z', what: 'tpctl upgrade --to 1.3.0' }),
    );
    const outcome = await w.operate();
    expect(outcome).toEqual({
      kind: 'locked',
      holder: { pid: process.pid, host: expect.any(String) as unknown, since: '2026-12-01T10:00:00.000Z', what: 'tpctl upgrade --to 1.3.0' },
    });
    expect(EXIT_CODES[outcome.kind]).toBe(4);
    expect(w.history()).toEqual([]);
  });

  it('nothing to do: an upgrade to the configured version, a rollback to a configured version that is healthy', async () => {
    const w = new World(upgradeScenario);
    expect(await upgrade({ to: '1.2.2', backup: true, label: 'test' }, w.ctx())).toMatchObject({
      kind: 'done',
      run: undefined,
      unchanged: { op: 'upgrade', version: '1.2.2' },
    });
    expect(await rollback({ to: '1.2.2', restore: undefined, label: 'test' }, w.ctx())).toMatchObject({
      kind: 'done',
      run: undefined,
      unchanged: { op: 'rollback', version: '1.2.2' },
    });
    expect(w.platform.touched).toBe(0);
  });

  it('a rollback to the configured version that does not answer healthy restarts it', async () => {
    const w = new World(upgradeScenario);
    await w.platform.stop();
    const outcome = await rollback({ to: '1.2.2', restore: undefined, label: 'test' }, w.ctx());
    expect(outcome.kind).toBe('done');
    w.expectRuns('1.2.2');
    expect(w.history()).toEqual(['ROLLBACK 1.2.2 -> 1.2.2']);
  });

  it('a killed run whose starting version still runs healthy is recorded, and nothing is switched', async () => {
    const w = new World(upgradeScenario);
    w.platform.inject(fault('preflight', 'forward', 'die-before'));
    await w.dies(() => w.operate());
    const touched = w.platform.touched;
    const outcome = await w.recover();
    expect(outcome).toMatchObject({ kind: 'done', run: undefined, recovery: { target: '1.2.2', run: undefined } });
    expect(w.platform.touched).toBe(touched);
    expect(w.history()).toEqual(['1.2.2 -> 1.3.0 INTERRUPTED']);
  });

  it('an upgrade after a killed one leads that one back first, then upgrades, in one log', async () => {
    const w = new World(upgradeScenario);
    w.platform.inject(fault('wait-healthy', 'forward', 'die-before'));
    await w.dies(() => w.operate());
    const outcome = await w.operate();
    expect(outcome.kind).toBe('done');
    expect(w.history()).toEqual(['1.2.2 -> 1.3.0 INTERRUPTED', 'ROLLBACK 1.3.0 -> 1.2.2', '1.2.2 -> 1.3.0 SUCCESS']);
    expect(describeOutcome(outcome).split('\n')).toEqual([
      expect.stringMatching(/^recovered the interrupted upgrade 1\.2\.2 -> 1\.3\.0: 1\.2\.2 runs/),
      expect.stringMatching(/^upgraded 1\.2\.2 -> 1\.3\.0 in/),
      expect.stringMatching(/^rehearsal: backup restored in/),
    ]);
    w.expectRuns('1.3.0');
  });

  it('a step reaches only the outputs it declared: reading another is a bug, caught at once', async () => {
    const w = new World(upgradeScenario);
    const ctx = w.ctx();
    const baseline = output<string>('baseline');
    const plan: Plan = {
      op: 'upgrade',
      from: '1.2.2',
      to: '1.3.0',
      steps: [{ name: 'peek', what: 'reads what it did not declare', run: async (facts) => facts.get(baseline) ?? 'nothing' }],
      confirmBack: [],
      recordSuccess: false,
      whenStuck: [],
    };
    const outcome = await execute(plan, ctx);
    expect(outcome.kind === 'failed' && outcome.run.failure?.reason).toBe('step peek reads baseline without declaring it');
  });

  it('a journal that was edited is refused, and nothing is switched', async () => {
    const w = new World(upgradeScenario);
    writeFileSync(
      stateFiles(w.dir).journal,
      JSON.stringify({ op: 'upgrade', from: '1.2.2', to: '$(reboot)', step: 'switch', startedAt: 'x', log: 'x', pid: 1, host: 'h' }),
    );
    const outcome = await w.recover();
    expect(outcome).toMatchObject({ kind: 'refused', reason: expect.stringMatching(/\.atlas-operation\.json does not describe an operation/) as unknown });
    expect(w.platform.touched).toBe(0);
    expect(w.history()).toEqual([]);
  });
});

describe('the checks before the switch', () => {
  const metadata = (version: string, minimumUpgradeFrom: string | null): ReleaseMetadata => ({
    format: 'atlas-release-1',
    version,
    minimumUpgradeFrom,
    oldestRollbackWithoutRestore: null,
    migrations: [],
  });
  const untouched = (w: World) => {
    expect({ touched: w.platform.touched, configured: w.platform.configured, history: w.history() }).toEqual({ touched: 0, configured: w.s.from, history: [] });
    expect(existsSync(stateFiles(w.dir).previous) || existsSync(stateFiles(w.dir).journal)).toBe(false);
  };

  it("refuses an upgrade from a version older than the target's minimumUpgradeFrom, naming the stop; exit 2, nothing changed", async () => {
    const w = new World(SCENARIOS[0]!);
    w.platform.metadata.set('1.3.0', metadata('1.3.0', '1.2.5'));
    const outcome = await w.operate();
    expect(outcome).toMatchObject({ kind: 'refused', next: [{ do: 'upgrade', to: '1.2.5' }] });
    expect(EXIT_CODES[outcome.kind]).toBe(2);
    expect(describeOutcome(outcome)).toBe(
      '1.3.0 cannot be upgraded to from 1.2.2: it needs 1.2.5 or newer (minimumUpgradeFrom in its release.json); upgrade to 1.2.5 first: ATLAS_VERSION=1.2.5 bash scripts/upgrade-tp.sh\nnothing was changed',
    );
    untouched(w);
    w.expectFinished(outcome);
  });

  it('lets an upgrade from minimumUpgradeFrom or newer through, and says so in the record', async () => {
    const w = new World(SCENARIOS[0]!);
    w.platform.metadata.set('1.3.0', metadata('1.3.0', '1.2.2'));
    const outcome = await w.operate();
    expect(outcome.kind === 'done' && outcome.run?.steps.find((st) => st.step === 'path-check')?.detail).toBe(
      '1.3.0 can be upgraded to from 1.2.2 or newer; 1.2.2 runs',
    );
  });

  it('refuses a mislabelled build: metadata of another version', async () => {
    const w = new World(SCENARIOS[0]!);
    w.platform.metadata.set('1.3.0', metadata('1.2.9', null));
    const outcome = await w.operate();
    expect(outcome).toMatchObject({ kind: 'refused', reason: 'the release metadata of 1.3.0 is that of 1.2.9: a mislabelled build' });
    untouched(w);
  });

  it('refuses a rollback to a version that cannot run on the schema, naming the migration, the rule and the newest backup at or before it', async () => {
    const w = new World(SCENARIOS[3]!);
    w.platform.schemaBreaks.add('1.2.2');
    const backup = (name: string, appVersion: string) => {
      const file = path.join(w.dir, name);
      writeFileSync(file, 'a backup');
      writeManifest(file, {
        format: 'atlas-backup-1',
        file: name,
        appVersion,
        lastMigration: null,
        source: 'postgres',
        postgres: { server: '17', client: '17' },
        reason: 'pre-upgrade',
        createdAt: '',
        durationMs: 1,
        sizeBytes: 8,
        uncompressedBytes: 8,
        sha256: '',
        tables: {},
        verifiedAt: null,
      });
      return file;
    };
    backup('db-backup-1.2.1-20260101T000000.sql.gz', '1.2.1');
    const wanted = backup('db-backup-1.2.2-20260301T000000.sql.gz', '1.2.2');
    backup('db-backup-1.3.0-20260401T000000.sql.gz', '1.3.0');
    const outcome = await w.operate();
    expect(outcome).toMatchObject({
      kind: 'refused',
      reason: '1.2.2 cannot run on the schema as it is: 0900_drop_nickname.sql (applied by 1.3.0) is not additive: drop-column',
    });
    expect(describeOutcome(outcome)).toContain(
      `restore the newest backup taken at or before 1.2.2: RESTORE_DB=1 DB_BACKUP_FILE=${wanted} ATLAS_VERSION=1.2.2 bash scripts/rollback-tp.sh`,
    );
    untouched(w);
  });

  it('without such a backup, the refusal says where it looked', async () => {
    const w = new World(SCENARIOS[3]!);
    w.platform.schemaBreaks.add('1.2.2');
    const outcome = await w.operate();
    expect(describeOutcome(outcome)).toContain(
      `restore a backup taken at or before 1.2.2 (there is none in ${w.dir}): RESTORE_DB=1 DB_BACKUP_FILE=<backup> ATLAS_VERSION=1.2.2 bash scripts/rollback-tp.sh`,
    );
  });

  it.each([
    ['not JSON', 'Error: cannot connect'],
    ['a malformed list', JSON.stringify({ version: '1.2.2', changed: 'all', breaking: [] })],
    ['a malformed verdict', JSON.stringify({ version: '1.2.2', changed: [], breaking: [{ name: 'x.sql', rules: 'drop-column' }] })],
  ])('refuses a target whose answer is %s, changing nothing', async (_what, answer) => {
    const w = new World(SCENARIOS[3]!);
    w.platform.targetSchemaStatus = async () => answer;
    const outcome = await w.operate();
    expect(outcome).toMatchObject({
      kind: 'refused',
      reason: expect.stringMatching(/^1\.2\.2's tpctl migrate status (did not answer JSON|answered something else than its schema status)/) as unknown,
    });
    untouched(w);
  });

  it("refuses a mislabelled build: the target's own tpctl says it is another version", async () => {
    const w = new World(SCENARIOS[3]!);
    w.platform.targetSchemaStatus = async () => JSON.stringify({ version: '1.2.2-rc.9', changed: [], breaking: [] });
    expect(await w.operate()).toMatchObject({ kind: 'refused', reason: "1.2.2's own tpctl says it is 1.2.2-rc.9: a mislabelled build" });
    untouched(w);
  });

  it('reads the answer of a target from before verdicts were recorded (no `breaking`): its checksums still count', async () => {
    const w = new World(SCENARIOS[3]!);
    w.platform.targetSchemaStatus = async () => JSON.stringify({ version: '1.2.2', changed: [{ name: '0002_agents.sql' }] });
    const outcome = await w.operate();
    expect(outcome).toMatchObject({
      kind: 'refused',
      reason: "1.2.2 cannot run on the schema as it is: 0002_agents.sql differs from 1.2.2's file of the same name (checksum)",
    });
  });

  it('a dry run makes the checks and is refused as the run would be; one that passes shows what they found', async () => {
    const w = new World(SCENARIOS[0]!);
    const dry = { to: '1.3.0', backup: true, label: 'test', dryRun: true };
    w.platform.metadata.set('1.3.0', metadata('1.3.0', '1.2.5'));
    expect(await upgrade(dry, w.ctx())).toMatchObject({ kind: 'refused', next: [{ do: 'upgrade', to: '1.2.5' }] });
    w.platform.metadata.set('1.3.0', metadata('1.3.0', '1.2.0'));
    const passing = await upgrade(dry, w.ctx());
    expect(describeOutcome(passing)).toContain(
      'path-check        check that 1.3.0 can be upgraded to from 1.2.2 (its minimumUpgradeFrom)\n                    checked: 1.3.0 can be upgraded to from 1.2.0 or newer; 1.2.2 runs',
    );
    expect(describeOutcome(passing)).toContain('checked: 1.3.0 can run on the schema as it is');
    untouched(w);
  });
});

describe('the rehearsal, on a copy of the data', () => {
  const upgradeScenario = SCENARIOS[0]!;
  const rollbackScenario = SCENARIOS[3]!;

  it('an upgrade whose migration fails on this data is refused in the rehearsal, naming the migration, the statement, the error and the key; production untouched', async () => {
    const w = new World(upgradeScenario);
    w.platform.failOnData.add('1.3.0');
    const outcome = await w.operate();
    expect(outcome.kind).toBe('refused');
    expect(EXIT_CODES[outcome.kind]).toBe(2);
    if (outcome.kind !== 'refused') return;
    expect(outcome.reason).toBe(
      'the rehearsal on a copy of the data refused it, and production was not touched: migration 0901_unique_title.sql failed at statement 1 of 1 (CREATE UNIQUE INDEX incidents_title_key ON incidents (title)) and was rolled back: could not create unique index "incidents_title_key" (Key (title)=(Disk full) is duplicated.)',
    );
    // What to do: read the log (kept), or go on without the rehearsal knowingly.
    expect(outcome.next).toEqual([{ do: 'read-log', log: expect.stringMatching(/run-1\.log$/) as unknown }, { do: 'skip-rehearsal' }]);
    expect(describeOutcome(outcome)).toMatch(/SKIP_REHEARSAL=1 \/ --no-rehearsal\)\nnothing was changed$/);
    expect({ history: w.history(), touched: w.platform.touched, data: w.platform.database.data }).toEqual({ history: [], touched: 0, data: 'live' });
    expect(existsSync(stateFiles(w.dir).previous)).toBe(false);
    w.expectRuns('1.2.2');
    w.expectNoRehearsalLeft();
    w.expectFinished(outcome);
  });

  it('an upgrade whose version fails its smoke journey on the copy is refused, naming the check', async () => {
    const w = new World(upgradeScenario);
    w.platform.journeyFails.add('1.3.0');
    const outcome = await w.operate();
    expect(outcome.kind === 'refused' && outcome.reason).toMatch(
      /1\.3\.0's smoke journey on the copy failed: GET \/api\/incidents: GET \/api\/incidents: HTTP 500: internal error$/,
    );
    expect({ history: w.history(), touched: w.platform.touched }).toEqual({ history: [], touched: 0 });
    w.expectNoRehearsalLeft();
  });

  it("a rollback to a version that cannot start on today's schema is refused in its rehearsal, on a copy of the live data", async () => {
    const w = new World(rollbackScenario);
    w.platform.broken.add('1.2.2');
    const outcome = await w.operate();
    expect(outcome.kind === 'refused' && outcome.reason).toMatch(
      /1\.2\.2 did not become healthy on a copy of the data: the Tenant Plane crashed: 1\.2\.2 apart exited with 1/,
    );
    expect({ history: w.history(), touched: w.platform.touched }).toEqual({ history: [], touched: 0 });
    w.expectRuns('1.3.0');
    w.expectNoRehearsalLeft();
  });

  it("a passing rehearsal's figures are in the run record and the output, and its backup is recorded as proven to restore", async () => {
    const w = new World(upgradeScenario);
    const outcome = await w.operate();
    expect(outcome.kind).toBe('done');
    const run = outcome.kind === 'done' ? outcome.run : undefined;
    const rehearsal = run?.rehearsal as RehearsalReport;
    expect(rehearsal).toMatchObject({
      version: '1.3.0',
      copy: {
        backup: w.platform.database.proven[0],
        database: expect.stringMatching(/^atlas_rehearsal_\d{8}t\d{6}_[0-9a-f]{6}$/) as unknown,
        tables: 1,
        rows: 1,
      },
      migrations: {
        timings: [{ name: '0901_priority.sql' }],
        longestLock: { mode: 'ACCESS EXCLUSIVE', relation: 'incidents', heldMs: 2, migration: '0901_priority.sql' },
        overLimit: false,
      },
      journey: { passed: 2, total: 2 },
    });
    expect(rehearsal.line).toMatch(
      /^rehearsal: backup restored in [\d.]+ s \(row counts match\), migrations [\d.]+ s \(longest lock: ACCESS EXCLUSIVE on incidents, 2 ms\), 1\.3\.0 healthy on the copy in [\d.]+ s, journey 2\/2$/,
    );
    expect(describeOutcome(outcome).split('\n').at(-1)).toBe(rehearsal.line);
    expect(readRunRecord(run!.log)?.rehearsal).toEqual(rehearsal);
    expect(w.platform.database.proven).toEqual([expect.stringMatching(/db-backup-1\.2\.2-1\.sql\.gz$/)]);
    // The copy took the run's stamp: the run after a killed one finds it by that.
    expect(rehearsal.copy.database).toBe(scratchDatabaseName('rehearsal', new Date(run!.startedAt), 'postgresql://fake.invalid/atlas'));
  });

  it('a lock held longer than the limit on the copy is flagged in the figures and the log, not refused', async () => {
    const w = new World(upgradeScenario);
    const ctx = w.ctx();
    const outcome = await upgrade({ to: '1.3.0', backup: true, label: 'test' }, { ...ctx, settings: { ...ctx.settings, rehearsal: { lockLimitMs: 1 } } });
    const rehearsal = (outcome.kind === 'done' ? outcome.run?.rehearsal : undefined) as RehearsalReport;
    expect(rehearsal.migrations).toMatchObject({ limitMs: 1, overLimit: true });
    expect(rehearsal.line).toContain('(longest lock: ACCESS EXCLUSIVE on incidents, 2 ms, over the 1 ms limit)');
    expect(readFileSync(ctx.log.file, 'utf8')).toMatch(/FLAGGED: 0901_priority\.sql held ACCESS EXCLUSIVE on incidents, 2 ms on the copy, over the 1 ms limit/);
  });

  it('--rehearse-only rehearses and stops: no switch, no history line, the figures in the record and the output', async () => {
    for (const s of [upgradeScenario, rollbackScenario]) {
      const w = new World(s);
      const outcome = await w.operate('only');
      expect(outcome.kind).toBe('done');
      const run = outcome.kind === 'done' ? outcome.run : undefined;
      expect(run?.steps.map((r) => r.step).at(-1)).toBe('rehearse-remove');
      expect(run).toMatchObject({ rehearseOnly: true, rehearsal: { version: s.to } });
      expect({ history: w.history(), touched: w.platform.touched }).toEqual({ history: [], touched: 0 });
      w.expectRuns(s.from);
      expect(describeOutcome(outcome)).toMatch(
        new RegExp(
          `^rehearsed the ${s.op} ${s.from} -> ${s.to} on a copy of the data and stopped there, as asked: production was not touched\\. Log: \\S+\\nrehearsal: `,
        ),
      );
    }
  });

  it('no rehearsal where there is nothing to rehearse on: the record says why; --rehearse-only is refused there', async () => {
    const embedded = new World(SCENARIOS[1]!);
    const outcome = await embedded.operate();
    expect(outcome.kind === 'done' && outcome.run?.rehearsal).toEqual({
      skipped: "the embedded database is one process's: it is not copied while the Tenant Plane holds it",
    });
    expect(describeOutcome(outcome)).toMatch(/\nrehearsal: none \(the embedded database is one process's/);
    const only = await new World(SCENARIOS[1]!).operate('only');
    expect(only.kind === 'refused' && only.reason).toBe(
      "there is nothing to rehearse on: the embedded database is one process's: it is not copied while the Tenant Plane holds it",
    );
    const asked = new World(upgradeScenario);
    const skipped = await asked.operate('no');
    expect(skipped.kind === 'done' && skipped.run?.rehearsal).toEqual({ skipped: 'skipped, as asked (--no-rehearsal)' });
    expect(asked.history()).toEqual(['1.2.2 -> 1.3.0 SUCCESS rehearsal:skipped']);
    expect(readHistory(stateFiles(asked.dir).history)[0]).toMatchObject({ outcome: 'SUCCESS', unrehearsed: true });
  });
});
