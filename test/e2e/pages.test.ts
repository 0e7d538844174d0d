import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../src/shared/app-root.js';
import { sharedPostgres } from '../support/backends.js';
import { AgentProcess } from '../support/agent-process.js';
import { ApiClient, eventually } from '../support/api-client.js';
import { startServer, type ServerProcess } from '../support/server-process.js';

/** The web pages in a real browser: Debian's Chromium driven by playwright-core. */
const admin = { ATLAS_ADMIN_EMAIL: 'admin@example.com', ATLAS_ADMIN_PASSWORD: 'pages-admin-pw-1' };
const shots = path.join(appRoot, 'test-results', 'screenshots');
let tp: ServerProcess & { url: string };
let browser: Browser;
let page: Page;
let agent: AgentProcess;
let api: ApiClient;

const shot = (name: string) => page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });

/** Waits until the element's text matches; fails with what it last showed. */
async function text(locator: Locator, expected: string | RegExp, seconds = 10, reload = false): Promise<void> {
  let last = '';
  await eventually(
    `"${String(expected)}" on the page (last seen: "${last}")`,
    async () => {
      if (reload) await page.reload();
      last = (
        (await locator
          .first()
          .textContent({ timeout: 1_000 })
          .catch(() => '')) ?? ''
      ).trim();
      return (typeof expected === 'string' ? last === expected : expected.test(last)) ? true : undefined;
    },
    seconds,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the element shows "${last}"`);
  });
}

async function logIn(password = admin.ATLAS_ADMIN_PASSWORD): Promise<void> {
  await page.goto(`${tp.url}/login`);
  // By keyboard, as someone without a mouse would.
  await page.getByLabel('Email').focus();
  await page.keyboard.press('Control+A');
  await page.keyboard.type(admin.ATLAS_ADMIN_EMAIL);
  await page.keyboard.press('Tab');
  await page.keyboard.type(password);
  // The form submission is a navigation (to the error page, or through the redirect).
  await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
}

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  tp = await startServer({ DB_URL: await sharedPostgres().createDatabase('pages'), ATLAS_AGENT_ONLINE_SECONDS: '3', ...admin });
  api = await ApiClient.login(tp.url, admin.ATLAS_ADMIN_EMAIL, admin.ATLAS_ADMIN_PASSWORD);
  const token = (await api.post<{ enrollmentToken: { token: string } }>('/api/admin/enrollment-tokens', { name: 'edge-page' })).body.enrollmentToken.token;
  agent = new AgentProcess({ server: tp.url, name: 'edge-page', checkinIntervalSeconds: 0.5, runbooks: { quick: { command: ['true'] } } });
  expect((await agent.enroll(token)).code).toBe(0);
  agent.start();
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  page = await browser.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await agent?.stop();
  tp?.child.kill('SIGKILL');
});

describe('the web pages', () => {
  it('a wrong password shows an error and no session', async () => {
    await logIn('not-the-password-9');
    await text(page.getByRole('alert'), 'the email or the password is wrong');
    expect(page.url()).toContain('/login');
    await shot('login-wrong-password');
  });

  it('log in, see the running version on Settings', async () => {
    await logIn();
    expect(new URL(page.url()).pathname).toBe('/incidents');
    await page.getByRole('link', { name: 'Settings' }).click();
    await text(page.locator('#running-version'), '1.3.0');
    await shot('settings');
  });

  it('Edge Agents shows the agent online, then offline when it stops, then back', async () => {
    const row = page.locator('tr[data-agent="edge-page"]');
    await page.goto(`${tp.url}/settings/agents`);
    await text(row.locator('td').nth(1), 'online');
    expect(await row.locator('time').getAttribute('title')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await text(row.locator('time'), /^\d+ s ago$/);
    await shot('agents-online');
    await agent.stop();
    await text(row.locator('td').nth(1), 'offline', 15, true);
    await shot('agents-offline');
    agent.start();
    await text(row.locator('td').nth(1), 'online', 15, true);
  });

  it('resolve an incident from its page, which shows its timeline', async () => {
    const created = await api.post<{ incident: { id: number } }>('/api/incidents', { title: 'Edge site A unreachable', severity: 'critical' });
    await page.goto(`${tp.url}/incidents`);
    await page.getByRole('link', { name: 'Edge site A unreachable' }).click();
    await text(page.locator('#incident-status'), 'open');
    await page.getByRole('button', { name: 'Acknowledge' }).click();
    await text(page.getByRole('status'), 'Incident acknowledged.');
    await page.getByRole('button', { name: 'Resolve' }).click();
    await text(page.locator('#incident-status'), 'resolved');
    const timeline = await page.locator('ol li').allTextContents();
    expect(timeline.map((t) => t.replace(/^\d+ s ago: /, ''))).toEqual([
      'created by admin@example.com',
      'acknowledged by admin@example.com',
      'resolved by admin@example.com',
    ]);
    expect(new URL(page.url()).pathname).toBe(`/incidents/${created.body.incident.id}`);
    await shot('incident-resolved');
  });

  it('is served with security headers and shows no secret', async () => {
    const res = await page.goto(`${tp.url}/settings/integrations`);
    const headers = res!.headers();
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(headers['x-frame-options']).toBe('DENY');
    const html = await page.content();
    expect(html).not.toMatch(/atp_|aga_|aet_|whs_|ats_|scrypt/);
  });
});
