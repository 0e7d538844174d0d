import type { Queryable } from './database.js';

/** The one license document installed. */
export function licenseRepository(q: Queryable) {
  return {
    async document(): Promise<string | undefined> {
      return (await q.query<{ document: string }>('SELECT document FROM license'))[0]?.document;
    },

    async install(document: string, installedBy: string): Promise<void> {
      await q.query(
        `INSERT INTO license (document, installed_by) VALUES ($1, $2)
         ON CONFLICT (singleton) DO UPDATE SET document = excluded.document, installed_by = excluded.installed_by, installed_at = now()`,
        [document, installedBy],
      );
    },
  };
}
