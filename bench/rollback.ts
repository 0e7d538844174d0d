/**
 * A rollback on Docker Compose from start to healthy (the public address answers for the target),
 * and to the command's end, against what it replaces: editing the
 * tag, `docker compose up -d` (Compose v2) and a curl loop until the old version answers; and the same
 * rollback with the recovery checklist on. Alternated, 5 rounds each. Then the time from a crashing new version's start to the old version being
 * healthy again, from the run's own record.
 *
 *   npm run bench:rollback        (needs a Docker Engine; builds the images it uses)
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { RunRecord } from '../src/ops/engine/state/run-record.js';
import { buildVariant, Deployment, requireDocker } from '../test/support/docker.js';
import { composeV2Config } from '../test/support/platforms.js';
import { PostgresServer } from '../test/support/postgres-server.js';
import { median } from './median.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const root = path.resolve(import.meta.dirname, '..');

requireDocker();
process.stdout.write('building images… ');
execFileSync('bash', [path.join(root, 'scripts', 'build-proxy-image.sh')], { stdio: 'ignore' });
execFileSync('bash', [path.join(root, 'scripts', 'build-image.sh')], { env: { ...process.env, ATLAS_VERSION: '1.2.2' }, stdio: 'ignore' });
buildVariant('1.2.2', '1.3.0', { '0900_incident_priority.sql': 'ALTER TABLE incidents ADD COLUMN priority integer;\n' });
buildVariant('1.2.2', '1.3.2', { '0901_broken.sql': 'INSERT INTO no_such_table VALUES (1);\n' });
console.log('done');

const pg = await PostgresServer.start();
// Compose v2 (built from source the first time), for tpctl and the baseline alike.
const d = new Deployment(
  { version: '1.3.0', dbUrl: await pg.createDatabase('bench'), admin: { email: 'a@example.com', password: 'bench-password-1' } },
  { DOCKER_CONFIG: composeV2Config() },
  ['docker', 'compose'],
);
try {
  await d.create();
  const backTo130 = async () => {
    d.setTag('1.3.0');
    d.compose('up', '-d', '--no-deps', 'tenant-plane');
    await d.waitHealthy('1.3.0');
  };

  // The baseline stops at healthy: so does the compared run (no recovery checklist). The
  // checklist (a real login, the license version, the agents) is timed on its own.
  const gateOnly = { ATLAS_VERIFY_EMAIL: '', ATLAS_VERIFY_PASSWORD: '' };
  // Healthy: the public address answers "ok" for 1.2.2 (behind the proxy that is once the
  // candidate, checked, takes the traffic; the command goes on to retire the old container).
  const rollbackTo122 = async (env: Record<string, string>) => {
    const start = performance.now();
    let healthyAt: number | undefined;
    let done = false;
    const watching = (async () => {
      while (!done && healthyAt === undefined) {
        const h = await d.health();
        if (h?.status === 200 && h.version === '1.2.2') healthyAt = performance.now();
        else await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const res = await d.tpctl(['rollback', '--to', '1.2.2'], env);
    const end = performance.now();
    done = true;
    await watching;
    if (res.code !== 0) throw new Error(`tpctl rollback failed: ${res.stdout}${res.stderr}`);
    return { healthy: (healthyAt ?? end) - start, done: end - start };
  };
  const ours: number[] = [];
  const oursDone: number[] = [];
  const checked: number[] = [];
  const raw: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const r = await rollbackTo122(gateOnly);
    ours.push(r.healthy);
    oursDone.push(r.done);
    await backTo130();
    checked.push((await rollbackTo122({})).done);
    await backTo130();

    const start = performance.now();
    d.setTag('1.2.2');
    d.compose('up', '-d', '--no-deps', 'tenant-plane');
    await d.waitHealthy('1.2.2');
    raw.push(performance.now() - start);
    await backTo130();
  }

  const crash = await d.tpctl(['upgrade', '--to', '1.3.2', '--no-backup']);
  const record = (JSON.parse((await d.tpctl(['history', '--json'])).stdout) as { run: RunRecord | null }[]).reverse().find((e) => e.run?.to === '1.3.2')?.run;
  if (crash.code !== 1 || !record) throw new Error(`the crash run did not roll back: ${crash.stdout}`);
  const fromCrashStart = record.steps
    .slice(record.steps.findIndex((s) => s.step === 'switch' || s.step === 'start-candidate'))
    .reduce((sum, s) => sum + s.durationMs, 0);

  console.log(`\nrollback on Docker Compose (host networking), start to healthy, medians of ${ROUNDS}, alternated\n`);
  console.log(`tpctl rollback --to 1.2.2, until 1.2.2 serves    ${(median(ours) / 1000).toFixed(2)} s`);
  console.log(`edit tag + docker compose up -d + curl loop       ${(median(raw) / 1000).toFixed(2)} s`);
  console.log(`ratio                                             ${(median(ours) / median(raw)).toFixed(2)}   (target ≤ 1.25)`);
  console.log(
    `tpctl rollback --to 1.2.2, until it returns       ${(median(oursDone) / 1000).toFixed(2)} s   (the old container retired, the service recreated on 1.2.2)`,
  );
  console.log(`  ratio                                           ${(median(oursDone) / median(raw)).toFixed(2)}`);
  console.log(`with the recovery checklist (ATLAS_VERIFY_*)      ${(median(checked) / 1000).toFixed(2)} s   (until it returns)`);
  console.log(
    `\ncrashing 1.3.2 started → 1.2.2 healthy again       ${(fromCrashStart / 1000).toFixed(2)} s   (switch, fail-fast wait, roll-back, wait, verify; HEALTH_TIMEOUT was ${d.env.HEALTH_TIMEOUT} s)`,
  );
  const rounds = (xs: number[]) => xs.map((t) => (t / 1000).toFixed(2)).join(' ');
  console.log(`\nall rounds: tpctl ${rounds(ours)} (returned ${rounds(oursDone)}); raw ${rounds(raw)}; with the checklist ${rounds(checked)}`);
} finally {
  d.down();
  await pg.destroy();
}
