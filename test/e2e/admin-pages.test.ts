import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { eventually } from '../support/api-client.js';
import { sharedPostgres } from '../support/backends.js';
import { localRuntimeEnv } from '../support/local-runtime.js';
import { freePort } from '../support/postgres-server.js';
import { makeRelease } from '../support/release.js';
import { tempDir } from '../support/temp.js';
import { runProcess, tpctl } from '../support/tpctl.js';

/**
 * The administrator's pages in a real browser (Debian's Chromium, driven by playwright-core),
 * against a real Tenant Plane on PostgreSQL run by the local runtime: each flow end to end, with
 * the tools an operator then uses (tpctl verify, the edge agent, an upgrade), axe-core on every
 * page at 1280 and 390 px, and a screenshot of each kept in test-results/screenshots/.
 */
const dir = tempDir('atlas-admin-pages-');
const shots = path.join(appRoot, 'test-results', 'screenshots');
const WIDTHS = [1280, 390] as const;
let env: Record<string, string>;
let base: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let receiver: Server;
let receiverUrl: string;
let agentRun: ChildProcess | undefined;
const local = (args: string[], extra: Record<string, string> = {}) => tpctl(args, { ...env, ...extra }, { cwd: dir });

beforeAll(async () => {
  const port = await freePort();
  env = { ...localRuntimeEnv(dir, port), DB_URL: await sharedPostgres().createDatabase('admin_pages'), ATLAS_WEBHOOK_ALLOW: '127.0.0.1' };
  base = `http://127.0.0.1:${port}`;
  for (const release of [makeRelease({ version: '1.2.2' }), makeRelease({ version: '1.3.0' })]) expect((await local(['release', 'add', release])).code).toBe(0);
  expect((await local(['local', 'start', '--version', '1.2.2'])).code).toBe(0);
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('received by the test receiver'));
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  page = await context.newPage();
}, 180_000);

afterAll(async () => {
  agentRun?.kill('SIGTERM');
  await browser?.close();
  receiver?.close();
  await local(['local', 'stop']);
});

/** Goes to a page; the answer's status. */
async function visit(url: string): Promise<number> {
  return (await page.goto(`${base}${url}`))?.status() ?? 0;
}

/** Submits a form by its button, waiting for the page it leads to. */
async function press(name: string | RegExp): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.getByRole('button', { name, exact: typeof name === 'string' }).click()]);
}

async function logIn(): Promise<void> {
  await visit('/login');
  await page.getByLabel('Email').fill(env.ATLAS_ADMIN_EMAIL!);
  await page.getByLabel('Password').fill(env.ATLAS_ADMIN_PASSWORD!);
  await press('Log in');
}

const axeSource = readFileSync(path.join(appRoot, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** axe-core's serious and critical violations on the page as it is, at both widths; a screenshot of each. */
async function audit(name: string): Promise<string[]> {
  const found: string[] = [];
  for (const width of WIDTHS) {
    await page.setViewportSize({ width, height: 900 });
    // Evaluated through the browser's debugging protocol: the page's own CSP allows no inline script.
    await page.evaluate(axeSource);
    // A string: the test is compiled without the browser's types.
    const violations = await page.evaluate<string[]>(`axe.run(document).then((r) => r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => v.id + ' (' + v.impact + '): ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`);
    found.push(...violations.map((v) => `${name} at ${width} px: ${v}`));
    // Nothing wider than the screen at 390 px but what scrolls in its own region.
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    if (overflow > 0) found.push(`${name} at ${width} px: the page is ${overflow} px wider than the screen`);
    await page.screenshot({ path: path.join(shots, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  return found;
}

describe('the administrator’s pages, in Chromium', () => {
  it('a token made and copied on the page passes tpctl verify; revoked on the page, it no longer does', async () => {
    await logIn();
    await visit('/settings/tokens');
    await page.getByLabel('Name (what it is for)').fill('tpctl verify');
    await press('Create token');
    const secret = (await page.locator('#token-secret').textContent())!.trim();
    expect(secret).toMatch(/^atp_/);
    expect(await page.locator('#token-recipe').textContent()).toBe(`export ATLAS_VERIFY_TOKEN=${secret}`);
    expect(await audit('token-created')).toEqual([]);
    // The copy button is the script's: hidden without JavaScript, working with it.
    await page.getByRole('button', { name: 'Copy the token' }).click();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(secret);
    const verified = await local(['verify', '--expect-version', '1.2.2'], { ATLAS_VERIFY_TOKEN: secret });
    expect(verified.code, verified.stdout + verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/PASS login: API token of admin@example\.com \(admin\) accepted by GET \/api\/me/);
    await visit('/settings/tokens');
    await press('Revoke tpctl verify');
    expect(await page.getByRole('status').textContent()).toContain('Token revoked');
    const refused = await local(['verify', '--expect-version', '1.2.2'], { ATLAS_VERIFY_TOKEN: secret });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/FAIL login: GET \/api\/me with the API token in ATLAS_VERIFY_TOKEN: HTTP 401/);
  });

  it('a webhook made on the page, sent a test to a local receiver: its status, its answer, its delivery', async () => {
    await visit('/settings/integrations');
    await page.getByLabel('Name').last().fill('pager');
    await page.getByLabel('URL (https:// in production)').last().fill(receiverUrl);
    await press('Create webhook');
    expect(await page.locator('#webhook-secret').textContent()).toMatch(/^whs_/);
    await press('Send a test to pager');
    expect(await page.locator('#test-status').textContent()).toBe('200');
    expect(await page.locator('#test-body').textContent()).toBe('received by the test receiver');
    expect(await audit('webhook-tested')).toEqual([]);
    await expect.poll(() => page.locator('section[data-webhook="pager"] tr[data-delivery] td').nth(2).textContent()).toBe('delivered');
  });

  it('an agent enrolled with the commands the page gives, online on the page, then revoked from it', async () => {
    await visit('/settings/agents');
    await page.getByLabel('Agent name').fill('edge-paste');
    await press('Create enrollment token');
    const commands = (await page.locator('#enroll-command').textContent())!.split('\n');
    expect(await audit('enrollment-token')).toEqual([]);
    // atlas-edge-agent as a host that installed it has it.
    const bin = path.join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(path.join(bin, 'atlas-edge-agent'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(appRoot, 'dist', 'cli', 'agent.js')}" "$@"\n`);
    chmodSync(path.join(bin, 'atlas-edge-agent'), 0o755);
    const host = path.join(dir, 'edge-host');
    mkdirSync(host);
    const shellEnv = { PATH: `${bin}:${process.env.PATH ?? ''}` };
    const enroll = await runProcess('bash', ['-euc', commands.slice(0, -1).join('\n')], shellEnv, { cwd: host });
    expect(enroll.code, enroll.stderr).toBe(0);
    expect(commands.at(-1)).toBe('atlas-edge-agent run --config agent.json');
    agentRun = spawn('bash', ['-c', `exec ${commands.at(-1)!}`], { cwd: host, env: shellEnv, stdio: 'ignore' });
    const state = page.locator('tr[data-agent="edge-paste"] td').nth(1);
    await eventually('edge-paste online on the page', async () => {
      await visit('/settings/agents');
      return (await state.textContent()) === 'online' || undefined;
    });
    await press('Revoke edge-paste');
    expect(await state.textContent()).toBe('revoked');
  });

  it('a real upgrade shows its banner on every page while it runs, then its run in the history', async () => {
    // The upgrade reports with an admin's token; a bake of 8 s keeps it running while the pages are read.
    await visit('/settings/tokens');
    await page.getByLabel('Name (what it is for)').fill('upgrades');
    await press('Create token');
    const token = (await page.locator('#token-secret').textContent())!.trim();
    const upgrade = local(['upgrade', '--to', '1.3.0'], { ATLAS_VERIFY_TOKEN: token, ATLAS_BAKE_SECONDS: '8' });
    const banner = page.locator('#running-operation');
    const seen = await eventually(
      'the banner on the incidents page',
      async () => {
        await visit('/incidents');
        const text = (await banner.count()) ? await banner.textContent() : '';
        return text?.includes('upgrade 1.2.2 → 1.3.0 in progress — bake') ? text : undefined;
      },
      120,
    );
    expect(seen).toMatch(/^upgrade 1\.2\.2 → 1\.3\.0 in progress — bake, \d+ s in: watch 1\.3\.0, the candidate, for 8 s/);
    await visit('/settings');
    expect(await banner.textContent()).toContain('upgrade 1.2.2 → 1.3.0 in progress');
    expect(await audit('banner')).toEqual([]);
    const res = await upgrade;
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).not.toContain('note:');
    await visit('/settings/upgrades');
    expect(await banner.count()).toBe(0);
    const row = page.locator('tr[data-run]').first();
    expect(await row.locator('td').nth(1).textContent()).toBe('upgrade 1.2.2 → 1.3.0');
    expect(await row.locator('td').nth(2).textContent()).toBe('succeeded');
    expect(await row.locator('td').nth(4).textContent()).toMatch(/upgraded 1\.2\.2 -> 1\.3\.0 in [\d.]+ s; 1\.3\.0 is healthy[\s\S]*bake: baseline/);
    expect(await page.locator('tr[data-backup]').count()).toBeGreaterThan(0);
    expect(await page.locator('#site-version').textContent()).toBe('1.3.0');
  }, 240_000);

  it('a backup made by hand is told to the Tenant Plane; one it cannot be told of (a token revoked) is still made, with a note', async () => {
    await visit('/settings/tokens');
    await page.getByLabel('Name (what it is for)').fill('backups');
    await press('Create token');
    const token = (await page.locator('#token-secret').textContent())!.trim();
    const made = await local(['backup', 'create'], { ATLAS_VERIFY_TOKEN: token });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).not.toContain('note:');
    const name = path.basename(/^backup: (\S+)$/m.exec(made.stdout)![1]!);
    await visit('/settings/upgrades');
    expect(await page.locator(`tr[data-backup="${name}"] td`).nth(4).textContent()).toBe('manual');
    // A token revoked since: the backup is made all the same, and the note says why it was not told.
    const unheard = await local(['backup', 'create'], { ATLAS_VERIFY_TOKEN: `atp_${'x'.repeat(43)}` });
    expect(unheard.code, unheard.stderr).toBe(0);
    expect(unheard.stderr).toMatch(
      /^note: the Tenant Plane was not told of this backup \(GET \/api\/me with the API token in ATLAS_VERIFY_TOKEN: HTTP 401: .+\); tpctl tells it with its next run$/m,
    );
  });

  it('axe-core finds no serious or critical violation on any page, logged in and out, at 1280 and 390 px', async () => {
    const incident = await page.evaluate<{ incidents: { id: number }[] }>(`fetch('/api/incidents?limit=1').then((r) => r.json())`);
    const found: string[] = [];
    for (const [name, url] of [
      ['incidents', '/incidents'],
      ['incident', `/incidents/${incident.incidents[0]?.id ?? 1}`],
      ['settings', '/settings'],
      ['agents', '/settings/agents'],
      ['upgrades', '/settings/upgrades'],
      ['tokens', '/settings/tokens'],
      ['integrations', '/settings/integrations'],
      ['users', '/settings/users'],
      ['not-found', '/settings/nothing'],
    ] as const) {
      await visit(url);
      found.push(...(await audit(name)));
    }
    await context.clearCookies();
    for (const [name, url] of [
      ['login', '/login'],
      ['not-found-logged-out', '/nothing'],
    ] as const) {
      await visit(url);
      found.push(...(await audit(name)));
    }
    expect(found).toEqual([]);
  }, 120_000);
});
