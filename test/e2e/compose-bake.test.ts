import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ApiClient, eventually } from '../support/api-client.js';
import { admin, composeDeployments, historyOutcomes, query } from '../support/compose-e2e.js';
import type { Deployment } from '../support/docker.js';

/** The bake on a real Docker Engine: a healthy version passes it; a slow one, sign-ins that stop working and refused webhooks fail it. */
const deployment = composeDeployments();

describe("the bake: after the gate, the guide's reasons to roll back watched against a baseline", () => {
  type Figures = { routes: Record<string, { n: number; p95: number }>; errors5xx: number };
  const lastRun = async (d: Deployment) =>
    (
      JSON.parse((await d.tpctl(['history', '--json'])).stdout) as {
        run: { steps: { step: string }[]; bake: { seconds: number; signals: string[]; baseline: Figures; bake: Figures } };
      }[]
    ).at(-1)?.run;

  it('a normal upgrade passes the bake; the baseline and bake figures are in tpctl history --json', async () => {
    const d = await deployment();
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_BAKE_SECONDS: '4' });
    expect(res.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in [\d.]+ s; 1\.3\.0 is healthy/);
    expect(res.code).toBe(0);
    const run = await lastRun(d);
    expect(run?.steps.map((s) => s.step)).toEqual([
      'preflight',
      'path-check',
      'schema-check',
      'baseline',
      'backup',
      'rehearse-copy',
      'rehearse-migrate',
      'rehearse-start',
      'rehearse-journey',
      'rehearse-remove',
      'previous-version',
      'start-candidate',
      'wait-healthy',
      'verify',
      'checklist',
      'bake',
      'promote',
    ]);
    expect(run?.bake).toMatchObject({ seconds: 4, signals: [], baseline: { errors5xx: 0 }, bake: { errors5xx: 0 } });
    for (const route of ['GET /api/health', 'GET /api/incidents', 'GET /api/settings', 'GET /api/agents']) {
      expect(run?.bake.baseline.routes[route]?.n, route).toBeGreaterThan(10);
      expect(run?.bake.bake.routes[route]?.n, route).toBeGreaterThan(10);
    }
  });

  it('a version that is healthy but slow is rolled back during the bake, naming its latency', async () => {
    const d = await deployment();
    // 1.3.4 answers every request 400 ms late, by construction: its p95 is far beyond twice the
    // baseline's, however busy the machine is while either is measured. (Its rounds of probes
    // take 400 ms: the 28 that a verdict needs, warm-up included, come after about 11 s.)
    const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.4', ATLAS_BAKE_SECONDS: '30', ATLAS_BAKE_MAX_LATENCY_RATIO: '2' });
    expect(res.code, res.stdout).toBe(1);
    const slow = /p95 of GET \/api\/\w+ \d+ ms against \d+ ms before \(x[\d.]+ > x2, floor 10 ms\)/;
    expect(res.stdout).toMatch(new RegExp(`^upgrade to 1\\.3\\.4 FAILED at bake: ${slow.source}.*Rolled back: 1\\.2\\.2 runs and is healthy`));
    expect(historyOutcomes(d)).toEqual(['1.2.2 -> 1.3.4 FAILED', 'ROLLBACK 1.3.4 -> 1.2.2']);
    expect(d.versionFile()).toBe('1.2.2');
    const signal = (await lastRun(d))?.bake.signals[0] ?? '';
    expect(signal).toMatch(new RegExp(`^${slow.source}`));
    // The figure is the delay's: at least 400 ms.
    expect(Number(/p95 of GET \/api\/\w+ (\d+) ms/.exec(signal)?.[1])).toBeGreaterThanOrEqual(400);
  }, 150_000);

  it('a wrong verification password still fails the gate with the bake on; sign-ins that stop working during the bake fail the bake', async () => {
    const d = await deployment();
    // (The rehearsal would refuse the wrong password first: the gate is what is tested here.)
    const wrong = await d.script('upgrade-tp.sh', {
      ATLAS_VERSION: '1.3.0',
      ATLAS_BAKE_SECONDS: '10',
      ATLAS_VERIFY_PASSWORD: 'not-the-password-1',
      SKIP_REHEARSAL: '1',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toMatch(/^upgrade to 1\.3\.0 FAILED at checklist: login: .*HTTP 401.*Rolled back: 1\.2\.2 runs and is healthy/);

    const upgrading = d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_BAKE_SECONDS: '30' });
    await eventually('the bake', async () => (d.read('data/.atlas-operation.json').includes('"step": "bake"') ? true : undefined), 60);
    await query(d, `UPDATE users SET disabled = true WHERE email = '${admin.email}'`);
    const res = await upgrading;
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/^upgrade to 1\.3\.0 FAILED at bake: GET \/api\/\w+ failed: HTTP 401: .*Rolled back: 1\.2\.2 runs and is healthy/);
  }, 150_000);

  it('a version whose webhook deliveries are refused is rolled back, naming the webhook', async () => {
    // The receiver refuses what 1.3.0 sends (it names itself in User-Agent) and takes what 1.2.2 sends.
    const seen: string[] = [];
    const receiver = http.createServer((req, res) => {
      const agent = req.headers['user-agent'] ?? '';
      seen.push(agent);
      res.statusCode = agent === 'AtlasAI-TenantPlane/1.3.0' ? 500 : 200;
      res.end();
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    try {
      const d = await deployment();
      const api = await ApiClient.login(`http://127.0.0.1:${d.port}`, admin.email, admin.password);
      const hook = await api.post<{ webhook: { id: string } }>('/api/admin/webhooks', {
        name: 'pager',
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        events: ['incident.created'],
      });
      expect((await api.post(`/api/admin/webhooks/${hook.body.webhook.id}/test`)).body).toMatchObject({ status: 'delivered' });

      const res = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', ATLAS_BAKE_SECONDS: '10' });
      expect(res.code).toBe(1);
      expect(res.stdout).toMatch(
        /^upgrade to 1\.3\.0 FAILED at bake: webhook pager delivered before the switch and its test delivery now fails: HTTP 500.*Rolled back: 1\.2\.2 runs and is healthy/,
      );
      expect(seen).toEqual(['AtlasAI-TenantPlane/1.2.2', 'AtlasAI-TenantPlane/1.3.0']);
      expect(d.versionFile()).toBe('1.2.2');
    } finally {
      receiver.close();
    }
  });
});
