import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCurrent, writeStatus, type SupervisorStatus } from '../../../../src/ops/runtimes/local/files.js';
import { LocalRuntime } from '../../../../src/ops/runtimes/local/runtime.js';
import { tempDir } from '../../../support/temp.js';

/**
 * The cause of issue 28's intermittent exit 3: a rollback to a release that crash-loops (the way
 * back of a failed rollback) asked the supervisor to switch, then took its next change of status
 * for the switch. The crash loop's own restart, writing the same version with a new time, came
 * first now and then: tpctl checked the crash-looping child, not the one the switch starts, and
 * failed the rollback. Here a stand-in supervisor writes that restart between the signal and the
 * switch, every time, and switches only when the test says so.
 */
describe('the local runtime switching away from a crash loop', () => {
  let dir: string;
  let supervisor: ChildProcess;
  let lines: AsyncIterator<string>;

  const status = (patch: Partial<SupervisorStatus>): SupervisorStatus => ({
    supervisorPid: supervisor.pid!,
    childPid: undefined,
    version: '1.3.0',
    state: 'crashed',
    exitCode: 1,
    restarts: 2,
    switches: 4,
    since: new Date().toISOString(),
    ...patch,
  });

  /** Whether `switching` returned within `ms`: the old wait did within one poll (50 ms). */
  const returnedWithin = (switching: Promise<void>, ms: number) => Promise.race([switching.then(() => true), sleep(ms).then(() => false)]);

  beforeEach(async () => {
    dir = tempDir('atlas-switch-');
    mkdirSync(path.join(dir, 'releases'));
    // Stands for the supervisor as tpctl sees it: a live process that takes SIGHUP, and the status file.
    supervisor = spawn(process.execPath, ['-e', "process.on('SIGHUP', () => console.log('hup')); console.log('ready'); setInterval(() => {}, 60_000);"], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    lines = createInterface({ input: supervisor.stdout! })[Symbol.asyncIterator]();
    expect((await lines.next()).value).toBe('ready');
  });

  afterEach(async () => {
    const exited = once(supervisor, 'exit');
    supervisor.kill('SIGKILL');
    await exited;
  });

  it('waits for the switch the supervisor counts, not for the restart the crash loop writes meanwhile', async () => {
    writeStatus(dir, status({}));
    const switching = new LocalRuntime(dir).switchTo('1.3.0');

    expect((await lines.next()).value).toBe('hup');
    expect(readCurrent(dir)).toBe('1.3.0');
    // The crash loop's restart timer fires before the supervisor takes the signal: the same
    // version, starting, at a new time. Before the fix tpctl returned on it within one poll (50 ms).
    writeStatus(dir, status({ state: 'starting', childPid: supervisor.pid, exitCode: undefined, restarts: 2 }));
    expect(await returnedWithin(switching, 1_000), 'switchTo returned on the crash loop restart, before the switch').toBe(false);

    // The supervisor carries the switch out: one more switch, restarts counted anew.
    writeStatus(dir, status({ state: 'starting', childPid: supervisor.pid, exitCode: undefined, restarts: 0, switches: 5 }));
    await switching;
  });

  it('with a supervisor of a release before switches were counted, waits for its status to change to the version', async () => {
    writeStatus(dir, status({ version: '1.2.2', state: 'running', restarts: 0, switches: undefined }));
    const switching = new LocalRuntime(dir).switchTo('1.3.0');
    expect((await lines.next()).value).toBe('hup');
    writeStatus(dir, status({ version: '1.2.2', state: 'stopped', restarts: 0, switches: undefined }));
    expect(await returnedWithin(switching, 500), 'switchTo returned while the supervisor had stopped the old version').toBe(false);
    writeStatus(dir, status({ state: 'starting', childPid: supervisor.pid, restarts: 0, switches: undefined }));
    await switching;
  });
});
