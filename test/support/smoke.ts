import { expect } from 'vitest';

export interface Admin {
  email: string;
  password: string;
}

async function call(base: string, path: string, init: RequestInit & { cookie?: string } = {}) {
  const res = await fetch(`${base}${path}`, {
    ...init,
    headers: { 'content-type': 'application/json', ...(init.cookie ? { cookie: init.cookie } : {}) },
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Record<string, unknown> };
}

/**
 * The API smoke checks any release must pass on a schema it is given: health ok, login,
 * a write, and a read (which shows what other versions wrote). Returns the release's route
 * list and the setting keys it reads.
 */
export async function smokeCheck(base: string, admin: Admin, expectVersion: string, stamp: string): Promise<{ routes: string[]; settingKeys: string[] }> {
  const health = await call(base, '/api/health');
  expect(health).toMatchObject({ status: 200, body: { status: 'ok', version: expectVersion } });

  const login = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(admin),
  });
  expect(login.status).toBe(200);
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';

  const index = await call(base, '/api', { cookie });
  const routes = ((index.body?.routes ?? []) as { method: string; url: string }[]).map((r) => `${r.method} ${r.url}`);

  const write = await call(base, `/api/admin/settings/smoke.${stamp}`, { method: 'PUT', cookie, body: JSON.stringify({ value: { by: expectVersion } }) });
  expect(write.status).toBe(200);
  if (routes.includes('POST /api/incidents')) {
    const created = await call(base, '/api/incidents', { method: 'POST', cookie, body: JSON.stringify({ title: `smoke ${stamp}`, severity: 'low' }) });
    expect(created.status).toBe(201);
    const listed = await call(base, '/api/incidents?q=smoke', { cookie });
    expect(listed.status).toBe(200);
  }
  const read = await call(base, '/api/settings', { cookie });
  expect(read.status).toBe(200);
  const settingKeys = ((read.body?.settings ?? []) as { key: string }[]).map((s) => s.key);
  expect(settingKeys).toContain(`smoke.${stamp}`);
  return { routes, settingKeys };
}
