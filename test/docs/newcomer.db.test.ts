import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, expect, it } from 'vitest';
import { eventually } from '../support/api-client.js';
import { freePort } from '../support/postgres-server.js';
import { copyCheckout } from '../support/release.js';
import { tempDir } from '../support/temp.js';
import { runProcess } from '../support/tpctl.js';

/**
 * The README's newcomer path, with no other reading: a fresh copy of the checkout (its
 * dependencies installed, as `npm ci` leaves them), `npm start`, the first administrator made as
 * the login page says, word for word, then a login.
 */
const running: ChildProcess[] = [];
afterAll(() => running.filter((p) => p.exitCode === null && p.signalCode === null).forEach((p) => process.kill(-p.pid!, 'SIGTERM')));

const unescapeHtml = (s: string) => s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!);

it('npm start, the first admin made as the login page says, then a login', async () => {
  const dir = copyCheckout(tempDir('atlas-newcomer-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/root',
    npm_config_offline: 'true',
    ATLAS_HOST: '127.0.0.1',
    ATLAS_PORT: String(port),
  };
  const npmStart = async () => {
    // A process group of its own, which Ctrl-C on a terminal would signal as a whole.
    const child = spawn('npm', ['start'], { cwd: dir, env, detached: true, stdio: 'ignore' });
    running.push(child);
    await eventually('the Tenant Plane to answer', async () => ((await fetch(`${base}/api/health`).catch(() => undefined))?.ok ? true : undefined), 120);
    return child;
  };
  const ctrlC = async (child: ChildProcess) => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(-child.pid!, 'SIGINT');
    await exited;
  };

  const first = await npmStart();
  const notice = /<p class="notice" id="first-run">(.*?)<\/p>/s
    .exec(await (await fetch(`${base}/login`)).text())?.[1]
    ?.replace(/\s+/g, ' ')
    .trim();
  expect(notice).toMatch(/^No administrator exists yet: stop the Tenant Plane \(Ctrl-C where npm start runs; /);
  const command = unescapeHtml(/<code>(.*?)<\/code>/s.exec(notice!)![1]!);
  await ctrlC(first);
  const made = await runProcess('bash', ['-c', command], env, { cwd: dir, stdin: 'newcomer-password-1\n' });
  expect(made).toMatchObject({ code: 0, stdout: expect.stringMatching(/^created admin you@example\.com /) as unknown });

  const second = await npmStart();
  const login = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: 'you@example.com', password: 'newcomer-password-1' }),
  });
  expect(login.status).toBe(200);
  expect(await (await fetch(`${base}/login`)).text()).not.toContain('first-run');
  await ctrlC(second);
}, 300_000);
