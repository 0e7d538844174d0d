import { loadModule, parseSync } from 'libpg-query';
import { loadMigrations } from '../../db/migrations.js';

/**
 * A backup is data, never code: what a restore runs is checked statement by statement, by
 * PostgreSQL's own parser (libpg-query), against what our backups hold and nothing else. A
 * psql meta-command inside a statement, `COPY … PROGRAM`, a DO block, a role, a file or an
 * extension never parses as one of these; a function is accepted only when one of our
 * migrations defines it, body and all. A signed backup has passed this already when it was
 * made; for one that is not, it is what stands between the file and the database.
 */

type Tree = Record<string, unknown>;

/** The settings pg_dump's header sets (PostgreSQL 15 to 18, and PGlite's). */
const SETTINGS = new Set([
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'transaction_timeout',
  'client_encoding',
  'standard_conforming_strings',
  'check_function_bodies',
  'xmloption',
  'client_min_messages',
  'row_security',
  'default_tablespace',
  'default_table_access_method',
]);

/** Functions an expression of our schema calls (column defaults). */
const EXPRESSION_FUNCTIONS = new Set(['now', 'gen_random_uuid']);

/** How pg_dump writes our tables' constraints and identity columns. */
const ALTER_TABLE_COMMANDS = new Set(['AT_AddConstraint', 'AT_AddIdentity']);

const names = (list: unknown) => ((list as { String?: { sval?: string } }[] | undefined) ?? []).map((n) => n.String?.sval ?? '?');

/** A call of three constants, the first a string: that string. */
function firstOfThreeConstants(call: Tree): string | undefined {
  const args = (call.args as Tree[] | undefined) ?? [];
  if (args.length !== 3 || !args.every((a) => a.A_Const)) return undefined;
  const first = ((args[0]!.A_Const as Tree).sval as Tree | undefined)?.sval;
  return typeof first === 'string' ? first : undefined;
}

/** `SELECT pg_catalog.set_config('search_path', '', false)` and `SELECT pg_catalog.setval('public.…', n, b)`: the only selects. */
function catalogSelect(select: Tree): string | undefined {
  const extra = Object.keys(select).filter((k) => !['targetList', 'limitOption', 'op'].includes(k));
  const targets = (select.targetList as Tree[] | undefined) ?? [];
  const call = ((targets[0]?.ResTarget as Tree | undefined)?.val as Tree | undefined)?.FuncCall as Tree | undefined;
  if (extra.length || targets.length !== 1 || !call) return 'a query';
  const name = names(call.funcname).join('.');
  const first = firstOfThreeConstants(call);
  if (name === 'pg_catalog.set_config' && first === 'search_path') return undefined;
  if (name === 'pg_catalog.setval' && first?.startsWith('public.')) return undefined;
  return `a call of ${name}`;
}

/** Our migrations' functions, as comparable text: name, parameters, result and every option (the body among them). */
function functionKey(stmt: Tree): string {
  const { funcname, parameters, returnType, options } = stmt;
  const sorted = [...((options as Tree[] | undefined) ?? [])].sort((a, b) =>
    String((a.DefElem as Tree).defname).localeCompare(String((b.DefElem as Tree).defname)),
  );
  return JSON.stringify({ name: names(funcname).at(-1), parameters, returnType, options: sorted }, (k, v: unknown) => (k === 'location' ? undefined : v));
}

/** The problem with one node anywhere in a statement's tree, if any. */
function nodeProblem(key: string, value: unknown): string | undefined {
  if (key === 'FuncCall') {
    const name = names((value as Tree).funcname);
    if (name.length > 1 || !EXPRESSION_FUNCTIONS.has(name[0]!)) return `a call of ${name.join('.')}`;
  }
  if (key === 'SubLink') return 'a subquery';
  if (key === 'RoleSpec') return 'a role';
  const relation = value as { relname?: unknown; schemaname?: unknown } | null;
  if (relation && typeof relation === 'object' && 'relname' in relation && relation.schemaname !== 'public')
    return `an object outside schema public (${JSON.stringify(relation.schemaname ?? 'unqualified')}.${JSON.stringify(relation.relname)})`;
  return undefined;
}

function walk(tree: unknown): string | undefined {
  if (!tree || typeof tree !== 'object') return undefined;
  for (const [key, value] of Object.entries(tree)) {
    const problem = nodeProblem(key, value) ?? walk(value);
    if (problem) return problem;
  }
  return undefined;
}

export type StatementCheck = (sql: string) => string | undefined;

function statementProblem(stmt: Tree, ourFunctions: ReadonlySet<string>): string | undefined {
  const [kind, node] = Object.entries(stmt)[0] as [string, Tree];
  switch (kind) {
    case 'VariableSetStmt':
      return node.kind === 'VAR_SET_VALUE' && !node.is_local && SETTINGS.has(String(node.name)) ? undefined : `SET ${String(node.name)}`;
    case 'SelectStmt':
      return catalogSelect(node);
    case 'CreateFunctionStmt':
      return ourFunctions.has(functionKey(node)) ? undefined : `a function that no migration defines (${names(node.funcname).join('.')})`;
    case 'CreateTrigStmt':
      return names(node.funcname)[0] === 'public' ? walk(node) : 'a trigger calling a function outside schema public';
    case 'AlterTableStmt': {
      const commands = ((node.cmds as Tree[] | undefined) ?? []).map((c) => String((c.AlterTableCmd as Tree).subtype));
      const other = commands.find((c) => !ALTER_TABLE_COMMANDS.has(c));
      return other ? `ALTER TABLE (${other})` : walk(node);
    }
    case 'CopyStmt':
      return node.is_from && !node.filename && !node.is_program && !node.query && !node.options && !node.whereClause
        ? walk(node)
        : 'a COPY other than FROM stdin';
    case 'InsertStmt': {
      const select = (node.selectStmt as Tree | undefined)?.SelectStmt as Tree | undefined;
      const valuesOnly = select && Object.keys(select).every((k) => ['valuesLists', 'limitOption', 'op'].includes(k));
      return valuesOnly && !node.onConflictClause && !node.returningList && !node.withClause ? walk(node) : 'an INSERT other than of VALUES';
    }
    case 'CommentStmt': // pg_dump comments on schema public once a restore has swapped it in
      return node.objtype === 'OBJECT_SCHEMA' && names([node.object])[0] === 'public' ? undefined : 'COMMENT other than on schema public';
    case 'CreateStmt':
    case 'IndexStmt':
      return walk(node);
    default: // CreateRoleStmt: CREATE ROLE
      return kind
        .replace(/Stmt$/, '')
        .replace(/([a-z])([A-Z])/g, '$1 $2')
        .toUpperCase();
  }
}

let loaded: Promise<StatementCheck> | undefined;

/**
 * The check of one statement (as the dump reader splits them): undefined when it is what our
 * backups hold, else what it is.
 */
export function statementCheck(): Promise<StatementCheck> {
  loaded ??= loadModule().then(() => {
    const ours = new Set(
      loadMigrations().flatMap((m) =>
        (parseSync(m.sql).stmts ?? []).flatMap((s) => {
          const f = (s.stmt as Tree).CreateFunctionStmt as Tree | undefined;
          return f ? [functionKey(f)] : [];
        }),
      ),
    );
    return (sql: string) => {
      let stmts: { stmt?: unknown }[];
      try {
        stmts = parseSync(sql).stmts ?? [];
      } catch (err) {
        return `not a statement PostgreSQL parses (${(err as Error).message})`;
      }
      if (stmts.length !== 1) return `${stmts.length} statements where one was expected`;
      return statementProblem(stmts[0]!.stmt as Tree, ours);
    };
  });
  return loaded;
}
