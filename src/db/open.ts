import type { Database } from './database.js';

export interface DatabaseConfig {
  /** postgresql://user:password@host:port/db; when absent, the embedded database is used. */
  url?: string | undefined;
  /** Directory of the embedded database. */
  embeddedDir: string;
  /** Connections in the pool (PostgreSQL only). */
  poolSize?: number;
  /** How the connections name themselves in pg_stat_activity: the server's are how a restore knows it still runs. */
  applicationName?: 'atlas-tenant-plane' | 'tpctl';
}

export async function openDatabase(config: DatabaseConfig): Promise<Database> {
  if (config.url) {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(config.url, config.poolSize ?? 10, config.applicationName ?? 'atlas-tenant-plane');
  }
  const { openEmbedded } = await import('./embedded.js');
  return openEmbedded(config.embeddedDir);
}
