#!/usr/bin/env node
/**
 * The container's HEALTHCHECK: exits 0 when this Tenant Plane answers `"status":"ok"` on its own
 * port, 1 otherwise. (The image has no curl; Node.js is there.)
 */
const port = process.env.ATLAS_PORT || '3000';
try {
  const res = await fetch(`http://127.0.0.1:${port}/api/health`, { signal: AbortSignal.timeout(3_000) });
  const body = (await res.json()) as { status?: string };
  process.exitCode = res.status === 200 && body.status === 'ok' ? 0 : 1;
} catch {
  process.exitCode = 1;
}
