const TAG = '$atlas_restore$';

/** Whether a statement is the backup preamble, which `tpctl restore` skips: it loads into a new schema. */
export function isBackupPreamble(sql: string): boolean {
  return sql.startsWith(`DO ${TAG}`);
}

/**
 * The SQL every backup starts with. Restored with `zcat FILE | psql DB_URL` over a database
 * that a newer version has since upgraded, it first drops everything in schema public, so that
 * tables, columns and types added after the backup do not survive and break the next upgrade
 * (which will add them again). Objects that belong to extensions are left alone.
 */
export function backupPreamble(appVersion: string, createdAt: string): string {
  return `-- AtlasAI Tenant Plane database backup (atlas-backup-1): version ${appVersion}, taken ${createdAt}.
-- Restore: tpctl restore FILE (verified, undoable, all or nothing), or zcat FILE | psql DB_URL.
-- Restoring replaces everything in schema public with the backed-up data.
DO ${TAG}
DECLARE
  r record;
BEGIN
  PERFORM set_config('client_min_messages', 'warning', true);
  FOR r IN
    SELECT format('%I.%I', 'public', c.relname) AS name,
           CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                          WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
      FROM pg_class c
     WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d
                        WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'a', 'i'))
     ORDER BY c.relkind = 'S'
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure::text AS name,
           CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END AS kind
      FROM pg_proc p
     WHERE p.pronamespace = 'public'::regnamespace
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
  END LOOP;
  FOR r IN
    SELECT format('%I.%I', 'public', t.typname) AS name, CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END AS kind
      FROM pg_type t
     WHERE t.typnamespace = 'public'::regnamespace
       AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c'))
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype IN ('e', 'i'))
  LOOP
    EXECUTE format('DROP %s IF EXISTS %s CASCADE', r.kind, r.name);
  END LOOP;
END
${TAG};

`;
}
