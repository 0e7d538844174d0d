/**
 * The additive-migration rules: what each breaks for the previous version (which must keep
 * running on the new schema after a rollback), and the safe expand/contract alternative.
 */
export type Severity = 'violation' | 'review' | 'note';

export interface Rule {
  severity: Severity;
  /** What goes wrong for the previous version, or why a human should look. */
  breaks: string;
  /** The safe way to get there. */
  instead: string;
}

const LATER = 'in a later release, once no version that can be rolled back to still uses it';

export const RULES = {
  'drop-object': {
    severity: 'violation',
    breaks: 'the previous version still uses this object; after a rollback every query that touches it fails',
    instead: `contract in two releases: first ship a version that no longer uses it, then drop it ${LATER}`,
  },
  'drop-column': {
    severity: 'violation',
    breaks: 'the previous version still reads and writes this column; after a rollback its queries fail with "column does not exist"',
    instead: `stop reading and writing the column in one release (leave it nullable or defaulted), and drop it ${LATER}`,
  },
  'drop-constraint': {
    severity: 'violation',
    breaks: 'the previous version may rely on this constraint (ON CONFLICT targets, uniqueness it assumes, cascades)',
    instead: `stop relying on it in one release, drop it ${LATER}`,
  },
  rename: {
    severity: 'violation',
    breaks: 'the previous version still uses the old name; after a rollback its queries fail',
    instead:
      'expand/contract: add the new name beside the old one (new column or table, or a view), write both and backfill, switch reads to the new name, and drop the old one in a later release',
  },
  'set-schema': {
    severity: 'violation',
    breaks: 'the previous version finds the object by its old schema-qualified name; after a rollback it is gone',
    instead: 'create the object in the new schema beside the old one, move readers and writers over, and drop the old one in a later release',
  },
  'alter-column-type': {
    severity: 'violation',
    breaks: 'the previous version reads and writes the old type (and the change rewrites the table under an exclusive lock)',
    instead: 'add a new column of the new type, write both and backfill, switch reads, and drop the old column in a later release',
  },
  'add-column-not-null': {
    severity: 'violation',
    breaks: 'the previous version inserts rows without this column; every such insert fails the NOT NULL',
    instead: 'add the column nullable or with a constant DEFAULT; once every version that can be rolled back to writes it, add NOT NULL',
  },
  'set-not-null': {
    severity: 'violation',
    breaks: 'the previous version may write NULL here; its inserts and updates fail (and the check scans the whole table under lock)',
    instead: 'add CHECK (col IS NOT NULL) NOT VALID and VALIDATE it only once every version that can be rolled back to writes the column; then SET NOT NULL',
  },
  'drop-not-null': {
    severity: 'violation',
    breaks: 'the previous version assumes this column is never NULL and may fail on the NULLs the new version writes',
    instead: 'keep the column NOT NULL; add a new nullable column for the new meaning',
  },
  'drop-default': {
    severity: 'violation',
    breaks: 'the previous version inserts rows relying on this default; without it they get NULL or fail NOT NULL',
    instead: `keep the default until no version that relies on it can be rolled back to, and drop it ${LATER}`,
  },
  truncate: {
    severity: 'violation',
    breaks: 'removes every row, for the previous version too; a rollback of the code cannot bring the data back',
    instead: 'delete the rows you mean in a reviewed backfill (DELETE … WHERE …), or stop using the table and drop it in a later release',
  },
  'add-constraint': {
    severity: 'violation',
    breaks: 'the previous version does not know this rule and writes rows it rejects (NOT VALID still checks every new write)',
    instead:
      'enforce the rule in the application first; once every version that can be rolled back to obeys it, add the constraint NOT VALID and VALIDATE CONSTRAINT in a later migration',
  },
  'volatile-default': {
    severity: 'violation',
    breaks: 'a volatile default (or identity, or serial) rewrites the whole table under an exclusive lock: both versions stall',
    instead:
      'add the column without a default (or with a constant one), set the default for new rows with SET DEFAULT, and backfill existing rows in batches; if the function is in fact STABLE or IMMUTABLE, waive this with the reason',
  },
  'stored-generated-column': {
    severity: 'violation',
    breaks: 'adding a stored generated column rewrites the whole table under an exclusive lock: both versions stall',
    instead: 'add a plain nullable column, fill it from the application (or a trigger) and backfill in batches',
  },
  'index-not-concurrently': {
    severity: 'violation',
    breaks: 'CREATE INDEX locks the table against writes for the whole build: the running version stalls',
    instead: 'CREATE INDEX CONCURRENTLY, in a migration of its own whose first line is `-- atlas:no-transaction`',
  },
  'concurrently-in-transaction': {
    severity: 'violation',
    breaks: 'CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction: the migration would fail when applied',
    instead: 'put it in a migration of its own whose first line is `-- atlas:no-transaction`',
  },
  'transaction-control': {
    severity: 'violation',
    breaks: 'the runner wraps each migration in a transaction; BEGIN/COMMIT inside it would commit half a migration',
    instead: 'remove it; a migration that must run outside a transaction starts with `-- atlas:no-transaction`',
  },
  'add-column-unique': {
    severity: 'violation',
    breaks: "a UNIQUE or PRIMARY KEY on a new column builds a unique index under the table's exclusive lock: both versions stall while it builds",
    instead:
      'add the column plain; build the index with CREATE UNIQUE INDEX CONCURRENTLY in a migration whose first line is `-- atlas:no-transaction`, and attach it (ADD CONSTRAINT … UNIQUE USING INDEX) in a later migration',
  },
  'drop-database': {
    severity: 'violation',
    breaks: 'drops every table of every version: there is nothing left to roll back to',
    instead: 'a migration never drops the database; remove data outside the lifecycle, after a backup',
  },
  'alter-domain': {
    severity: 'violation',
    breaks:
      "a domain's constraint, NOT NULL or default applies to every column of that type: the previous version's writes may fail it, or it relied on what is dropped",
    instead:
      'create a new domain beside the old one and move columns to it expand/contract (new column, write both, backfill, switch reads), then drop the old one in a later release',
  },
  reindex: {
    severity: 'violation',
    breaks: 'REINDEX without CONCURRENTLY locks out writes to the table (and reads through the index) for the whole rebuild: the running version stalls',
    instead: 'REINDEX … CONCURRENTLY, in a migration of its own whose first line is `-- atlas:no-transaction`',
  },
  'detach-partition': {
    severity: 'violation',
    breaks: "the previous version reads and writes the parent table: the detached partition's rows are gone from it (and a plain DETACH locks the parent)",
    instead: `keep the partition attached while a version that can be rolled back to needs its rows, and detach it ${LATER}`,
  },
  'waiver-without-reason': {
    severity: 'violation',
    breaks: 'a waiver must say why the rule does not apply, for the reviewer and for whoever rolls back later',
    instead: 'write `-- atlas:allow <rule-id> <reason>`',
  },
  'waiver-unknown-rule': {
    severity: 'violation',
    breaks: 'this waiver names no rule, so it waives nothing (a typo?)',
    instead: 'use one of the rule ids this linter reports',
  },
  'replace-view-or-function': {
    severity: 'review',
    breaks: 'the previous version calls this view or function and will get the new definition after a rollback',
    instead: 'keep the old result shape and behaviour, or create a new name beside the old one',
  },
  'set-default': {
    severity: 'review',
    breaks: 'the previous version inserts rows that now get the new default',
    instead: 'make sure the new default means the same for the previous version',
  },
  'opaque-body': {
    severity: 'review',
    breaks: 'the linter cannot see what this body does (dynamic SQL, another language, or a body it cannot parse)',
    instead: 'prefer plain statements; otherwise check by hand that the body is additive',
  },
  'trigger-on-existing-table': {
    severity: 'review',
    breaks: "a trigger acts on the previous version's writes too, and can reject or change them",
    instead: 'make sure the trigger accepts every write the previous version makes',
  },
  'row-security': {
    severity: 'review',
    breaks: 'row security can hide rows from, or refuse writes of, the previous version',
    instead: 'make sure the policies admit everything the previous version reads and writes',
  },
  revoke: {
    severity: 'review',
    breaks: 'the previous version may need the privilege being revoked',
    instead: 'revoke only what no version that can be rolled back to uses',
  },
  'unrecognised-statement': {
    severity: 'violation',
    breaks: 'the linter does not know this statement to be additive, and what is not known to be additive counts as breaking',
    instead:
      'check by hand that the previous version keeps working after it, and waive it with the reason: `-- atlas:allow unrecognised-statement <why it is additive>`',
  },
  'unused-waiver': {
    severity: 'review',
    breaks: 'this waiver does not match any finding on its statement',
    instead: 'remove it, or put it on the statement it is meant for',
  },
  backfill: {
    severity: 'note',
    breaks: 'data changes (a backfill) run inside the migration; on a large table they hold locks for long',
    instead: 'keep it small, or batch it outside the migration',
  },
  'enum-add-value': {
    severity: 'note',
    breaks: 'the previous version may read rows with a value it does not know',
    instead: 'make sure the previous version tolerates unknown values (it should treat them as "other")',
  },
} as const satisfies Record<string, Rule>;

export type RuleId = keyof typeof RULES;

export function isRuleId(id: string): id is RuleId {
  return Object.hasOwn(RULES, id);
}
