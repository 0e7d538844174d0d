/** The directives a migration file may carry, read by the migrator and the linter alike. */

/** A migration whose first line is `-- atlas:no-transaction` (for CREATE INDEX CONCURRENTLY) runs statement by statement. */
export const NO_TRANSACTION_RE = /^--[ \t]*atlas:no-transaction[ \t]*(\r?\n|$)/;
