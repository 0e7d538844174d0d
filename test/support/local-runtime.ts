import path from 'node:path';

/** The environment the local runtime's tests run the scripts and tpctl with: a deployment in `dir`, the Tenant Plane on `port`. */
export function localRuntimeEnv(dir: string, port: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    ATLAS_RUNTIME: 'local',
    ATLAS_PORT: String(port),
    ATLAS_HOST: '127.0.0.1',
    HEALTH_URL: `http://127.0.0.1:${port}/api/health`,
    HEALTH_TIMEOUT: '30',
    ATLAS_LOG_DIR: path.join(dir, 'logs'),
    ATLAS_ADMIN_EMAIL: 'admin@example.com',
    ATLAS_ADMIN_PASSWORD: 'local-admin-pw-1',
    // The guide's flows are tested without the bake; the bake's own tests turn it on.
    ATLAS_BAKE_SECONDS: '0',
  };
}
