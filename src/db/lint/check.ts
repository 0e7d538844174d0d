import { parsePlPgSQLSync, parseSync, type AlterTableCmd, type ColumnDef, type Constraint, type Node, type RangeVar } from 'libpg-query';
import type { RuleId, Severity } from './rules.js';

/** One rule broken by one statement. */
export interface Hit {
  rule: RuleId;
  /** What it is about: `users.nickname`, `DROP TABLE incidents`. */
  subject: string;
  /** Set when the statement sits in a body: `inside DO block`, `inside function f`. */
  context?: string;
  /** A function body runs when called, not by the migration: its findings are for review only. */
  severity?: Severity;
}

/** What the migration created so far: changes to those objects break nothing that exists. */
export interface FileContext {
  created: Set<string>;
  noTransaction: boolean;
}

/** Functions PostgreSQL marks STABLE or IMMUTABLE: as a column default they cause no table rewrite. */
const NON_VOLATILE_FUNCTIONS = new Set([
  'now',
  'transaction_timestamp',
  'statement_timestamp',
  'current_setting',
  'lower',
  'upper',
  'length',
  'concat',
  'jsonb_build_object',
  'jsonb_build_array',
  'json_build_object',
  'json_build_array',
  'to_jsonb',
  'to_json',
  'make_interval',
  'date_trunc',
  'abs',
  'round',
  'array_length',
]);
const SERIAL_TYPES = new Set(['serial', 'serial2', 'serial4', 'serial8', 'smallserial', 'bigserial']);

type Tree = Record<string, unknown>;

function strings(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(strings);
  if (!node || typeof node !== 'object') return [];
  const n = node as Tree;
  if (n.String) return [(n.String as { sval?: string }).sval ?? ''];
  if (n.List) return strings((n.List as Tree).items);
  if (n.ObjectWithArgs) return strings((n.ObjectWithArgs as Tree).objname);
  if (n.TypeName) return strings((n.TypeName as Tree).names);
  return [];
}

const qualified = (parts: string[]) => (parts.length > 1 ? parts.join('.') : `public.${parts[0] ?? ''}`);
const tableKey = (r: RangeVar | undefined) => `${r?.schemaname ?? 'public'}.${r?.relname ?? ''}`;
const tableName = (r: RangeVar | undefined) => (r?.schemaname ? `${r.schemaname}.${r.relname ?? ''}` : (r?.relname ?? ''));

/** Whether an expression can be evaluated once for all rows (no volatile or unknown function in it). */
function isConstantDefault(expr: unknown): boolean {
  if (Array.isArray(expr)) return expr.every(isConstantDefault);
  if (!expr || typeof expr !== 'object') return true;
  const n = expr as Tree;
  if (n.FuncCall) {
    const name = strings((n.FuncCall as Tree).funcname).at(-1) ?? '';
    if (!NON_VOLATILE_FUNCTIONS.has(name)) return false;
  }
  return Object.values(n).every(isConstantDefault);
}

function constraintsOf(def: ColumnDef): Constraint[] {
  return (def.constraints ?? []).flatMap((c) => ('Constraint' in c ? [c.Constraint] : []));
}

function checkAddColumn(def: ColumnDef, table: string): Hit[] {
  const subject = `${table}.${def.colname ?? ''}`;
  const constraints = constraintsOf(def);
  const has = (type: string) => constraints.some((c) => c.contype === type);
  const hits: Hit[] = [];
  const defaultExpr = constraints.find((c) => c.contype === 'CONSTR_DEFAULT')?.raw_expr;
  const serial = SERIAL_TYPES.has(strings(def.typeName?.names).at(-1) ?? '');
  if (has('CONSTR_NOTNULL') && !has('CONSTR_DEFAULT') && !has('CONSTR_IDENTITY') && !serial) hits.push({ rule: 'add-column-not-null', subject });
  if (serial || has('CONSTR_IDENTITY') || (defaultExpr && !isConstantDefault(defaultExpr))) hits.push({ rule: 'volatile-default', subject });
  if (has('CONSTR_GENERATED') && constraints.some((c) => c.contype === 'CONSTR_GENERATED' && c.generated_kind !== 'v')) {
    hits.push({ rule: 'stored-generated-column', subject });
  }
  if (has('CONSTR_UNIQUE') || has('CONSTR_PRIMARY')) hits.push({ rule: 'add-column-unique', subject });
  return hits;
}

const ADDITIVE_SUBCOMMANDS = new Set([
  'AT_ValidateConstraint',
  'AT_SetStatistics',
  'AT_SetStorage',
  'AT_SetCompression',
  'AT_SetOptions',
  'AT_ResetOptions',
  'AT_SetRelOptions',
  'AT_ResetRelOptions',
  'AT_ChangeOwner',
  'AT_ClusterOn',
  'AT_DropCluster',
]);
const BLOCKING_CONSTRAINTS = new Set(['CONSTR_CHECK', 'CONSTR_FOREIGN', 'CONSTR_UNIQUE', 'CONSTR_EXCLUSION', 'CONSTR_PRIMARY']);

function checkAlterTableCmd(cmd: AlterTableCmd, table: string): Hit[] {
  const column = `${table}.${cmd.name ?? ''}`;
  switch (cmd.subtype) {
    case 'AT_AddColumn':
      return cmd.def && 'ColumnDef' in cmd.def ? checkAddColumn(cmd.def.ColumnDef, table) : [];
    case 'AT_DropColumn':
      return [{ rule: 'drop-column', subject: column }];
    case 'AT_AlterColumnType':
      return [{ rule: 'alter-column-type', subject: column }];
    case 'AT_SetNotNull':
      return [{ rule: 'set-not-null', subject: column }];
    case 'AT_DropNotNull':
      return [{ rule: 'drop-not-null', subject: column }];
    case 'AT_ColumnDefault':
      return [{ rule: cmd.def ? 'set-default' : 'drop-default', subject: column }];
    case 'AT_DropConstraint':
      return [{ rule: 'drop-constraint', subject: `${table}.${cmd.name ?? ''}` }];
    case 'AT_AddIndexConstraint':
      return [{ rule: 'add-constraint', subject: table }];
    case 'AT_AddConstraint': {
      const c = cmd.def && 'Constraint' in cmd.def ? cmd.def.Constraint : undefined;
      const subject = `${table}${c?.conname ? `.${c.conname}` : ''}`;
      if (c?.contype === 'CONSTR_NOTNULL') return [{ rule: 'set-not-null', subject }];
      return c?.contype && BLOCKING_CONSTRAINTS.has(c.contype) ? [{ rule: 'add-constraint', subject }] : [];
    }
    case 'AT_EnableRowSecurity':
    case 'AT_ForceRowSecurity':
      return [{ rule: 'row-security', subject: table }];
    case 'AT_DetachPartition':
    case 'AT_DetachPartitionFinalize':
      return [{ rule: 'detach-partition', subject: table }];
    default:
      return cmd.subtype && ADDITIVE_SUBCOMMANDS.has(cmd.subtype)
        ? []
        : [{ rule: 'unrecognised-statement', subject: `ALTER TABLE ${table} ${cmd.subtype ?? ''}` }];
  }
}

/** Statements inside a PL/pgSQL body, or undefined when the body cannot be seen through. */
function plpgsqlStatements(body: string): { sql: string[]; dynamic: boolean } | undefined {
  try {
    const parsed = parsePlPgSQLSync(`CREATE FUNCTION atlas_lint_body() RETURNS void LANGUAGE plpgsql AS $atlas_lint$${body}$atlas_lint$`);
    const sql: string[] = [];
    let dynamic = false;
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) return node.forEach(walk);
      if (!node || typeof node !== 'object') return;
      const n = node as Tree;
      if (n.PLpgSQL_stmt_dynexecute) dynamic = true;
      const exec = n.PLpgSQL_stmt_execsql as { sqlstmt?: { PLpgSQL_expr?: { query?: string } } } | undefined;
      if (exec?.sqlstmt?.PLpgSQL_expr?.query) sql.push(exec.sqlstmt.PLpgSQL_expr.query);
      Object.values(n).forEach(walk);
    };
    walk(parsed);
    return { sql, dynamic };
  } catch {
    return undefined;
  }
}

function checkBody(body: string | undefined, language: string, where: string, ctx: FileContext, severity?: Severity): Hit[] {
  const opaque: Hit = { rule: 'opaque-body', subject: where, context: where };
  if (body === undefined) return [opaque];
  let statements: string[];
  let dynamic = false;
  if (language === 'plpgsql') {
    const seen = plpgsqlStatements(body);
    if (!seen) return [opaque];
    statements = seen.sql;
    dynamic = seen.dynamic;
  } else if (language === 'sql') {
    statements = [body];
  } else {
    return [opaque];
  }
  const hits: Hit[] = dynamic ? [{ ...opaque, subject: `${where}: EXECUTE of dynamic SQL` }] : [];
  for (const sql of statements) {
    let nodes: Node[];
    try {
      nodes = (parseSync(sql).stmts ?? []).map((s) => s.stmt as Node);
    } catch {
      hits.push(opaque);
      continue;
    }
    for (const node of nodes) {
      for (const hit of checkStatement(node, ctx)) hits.push({ ...hit, context: where, ...(severity ? { severity } : {}) });
    }
  }
  return hits;
}

function option(options: Node[] | undefined, name: string): string | undefined {
  for (const o of options ?? []) {
    if ('DefElem' in o && o.DefElem.defname === name) return strings(o.DefElem.arg)[0];
  }
  return undefined;
}

/**
 * A Boolean option as PostgreSQL reads it (defGetBoolean): present without a value is true; 1 and
 * 0, true/false and on/off (any case) are themselves; anything else PostgreSQL refuses, so it is
 * not taken for true. Undefined when the option is absent.
 */
function booleanOption(options: Node[] | undefined, name: string): boolean | undefined {
  const o = (options ?? []).find((n) => 'DefElem' in n && n.DefElem.defname === name);
  if (!o || !('DefElem' in o)) return undefined;
  const arg = o.DefElem.arg;
  if (!arg) return true;
  if ('Integer' in arg) return (arg.Integer.ival ?? 0) === 1;
  return ['true', 'on'].includes((strings(arg)[0] ?? '').toLowerCase());
}

/**
 * Remembers what a statement created, for the statements after it. `IF NOT EXISTS` may have
 * found the object there already: then it is not new, and changes to it are checked as such.
 */
function created(ctx: FileContext, key: string, ifNotExists: boolean | undefined): void {
  if (!ifNotExists) ctx.created.add(key);
}

/** The rules one statement breaks, given what the migration created before it. */
export function checkStatement(node: Node, ctx: FileContext): Hit[] {
  if ('CreateStmt' in node) {
    created(ctx, tableKey(node.CreateStmt.relation), node.CreateStmt.if_not_exists);
    return [];
  }
  if ('CreateTableAsStmt' in node) {
    created(ctx, tableKey(node.CreateTableAsStmt.into?.rel), node.CreateTableAsStmt.if_not_exists);
    return [];
  }
  if ('ViewStmt' in node) {
    ctx.created.add(tableKey(node.ViewStmt.view));
    return node.ViewStmt.replace ? [{ rule: 'replace-view-or-function', subject: `VIEW ${tableName(node.ViewStmt.view)}` }] : [];
  }
  if ('CreateDomainStmt' in node) {
    ctx.created.add(qualified(strings(node.CreateDomainStmt.domainname)));
    return [];
  }
  if ('CreateEnumStmt' in node) {
    ctx.created.add(qualified(strings(node.CreateEnumStmt.typeName)));
    return [];
  }
  if ('CompositeTypeStmt' in node) {
    ctx.created.add(tableKey(node.CompositeTypeStmt.typevar));
    return [];
  }
  if ('CreateSeqStmt' in node) {
    created(ctx, tableKey(node.CreateSeqStmt.sequence), node.CreateSeqStmt.if_not_exists);
    return [];
  }
  if ('CreateFunctionStmt' in node) {
    const f = node.CreateFunctionStmt;
    const name = strings(f.funcname).join('.');
    ctx.created.add(qualified(strings(f.funcname)));
    const replaced: Hit[] = f.replace ? [{ rule: 'replace-view-or-function', subject: `FUNCTION ${name}` }] : [];
    const language = option(f.options, 'language') ?? 'sql';
    // A body runs when the function is called, not by this migration: what it does is for review.
    const body = f.sql_body ? undefined : option(f.options, 'as');
    if (f.sql_body) return replaced;
    const bodyContext = { created: new Set(ctx.created), noTransaction: ctx.noTransaction };
    return [...replaced, ...checkBody(body, language, `inside function ${name}`, bodyContext, 'review')];
  }
  if ('DoStmt' in node) {
    return checkBody(option(node.DoStmt.args, 'as'), option(node.DoStmt.args, 'language') ?? 'plpgsql', 'inside DO block', ctx);
  }
  if ('IndexStmt' in node) {
    const idx = node.IndexStmt;
    const table = tableKey(idx.relation);
    if (idx.idxname) created(ctx, `${idx.relation?.schemaname ?? 'public'}.${idx.idxname}`, idx.if_not_exists);
    const hits: Hit[] = [];
    if (idx.concurrent && !ctx.noTransaction) hits.push({ rule: 'concurrently-in-transaction', subject: `INDEX ${idx.idxname ?? ''}` });
    if (ctx.created.has(table)) return hits;
    if (idx.unique) hits.push({ rule: 'add-constraint', subject: `UNIQUE INDEX ${idx.idxname ?? ''} ON ${tableName(idx.relation)}` });
    if (!idx.concurrent) hits.push({ rule: 'index-not-concurrently', subject: `INDEX ${idx.idxname ?? ''} ON ${tableName(idx.relation)}` });
    return hits;
  }
  if ('AlterTableStmt' in node) {
    const stmt = node.AlterTableStmt;
    if (ctx.created.has(tableKey(stmt.relation))) return [];
    return (stmt.cmds ?? []).flatMap((c) => ('AlterTableCmd' in c ? checkAlterTableCmd(c.AlterTableCmd, tableName(stmt.relation)) : []));
  }
  if ('RenameStmt' in node) {
    const r = node.RenameStmt;
    if (r.relation && ctx.created.has(tableKey(r.relation))) return [];
    const what = r.relation ? `${tableName(r.relation)}${r.subname ? `.${r.subname}` : ''}` : strings(r.object).join('.');
    return [{ rule: 'rename', subject: `${what} → ${r.newname ?? ''}` }];
  }
  if ('AlterEnumStmt' in node) {
    const e = node.AlterEnumStmt;
    const type = strings(e.typeName).join('.');
    if (ctx.created.has(qualified(strings(e.typeName)))) return [];
    return [
      e.oldVal
        ? { rule: 'rename', subject: `${type} value '${e.oldVal}' → '${e.newVal ?? ''}'` }
        : { rule: 'enum-add-value', subject: `${type} '${e.newVal ?? ''}'` },
    ];
  }
  if ('AlterObjectSchemaStmt' in node) {
    const s = node.AlterObjectSchemaStmt;
    const what = s.relation ? tableName(s.relation) : strings(s.object).join('.');
    return [{ rule: 'set-schema', subject: `${what} → ${s.newschema ?? ''}` }];
  }
  if ('DropStmt' in node) {
    const d = node.DropStmt;
    const kind = (d.removeType ?? 'OBJECT').replace(/^OBJECT_/, '');
    const hits: Hit[] = [];
    if (d.concurrent && !ctx.noTransaction) hits.push({ rule: 'concurrently-in-transaction', subject: `DROP ${kind}` });
    const existing = (d.objects ?? []).map(strings).filter((parts) => !ctx.created.has(qualified(parts)));
    if (existing.length) hits.push({ rule: 'drop-object', subject: `DROP ${kind} ${existing.map((p) => p.join('.')).join(', ')}` });
    return hits;
  }
  if ('TruncateStmt' in node) {
    const tables = (node.TruncateStmt.relations ?? []).flatMap((r) => ('RangeVar' in r ? [r.RangeVar] : []));
    const existing = tables.filter((t) => !ctx.created.has(tableKey(t)));
    return existing.length ? [{ rule: 'truncate', subject: existing.map(tableName).join(', ') }] : [];
  }
  if ('InsertStmt' in node) return [{ rule: 'backfill', subject: `INSERT INTO ${tableName(node.InsertStmt.relation)}` }];
  if ('UpdateStmt' in node) return [{ rule: 'backfill', subject: `UPDATE ${tableName(node.UpdateStmt.relation)}` }];
  if ('DeleteStmt' in node) return [{ rule: 'backfill', subject: `DELETE FROM ${tableName(node.DeleteStmt.relation)}` }];
  if ('MergeStmt' in node) return [{ rule: 'backfill', subject: `MERGE INTO ${tableName(node.MergeStmt.relation)}` }];
  if ('TransactionStmt' in node) return [{ rule: 'transaction-control', subject: (node.TransactionStmt.kind ?? '').replace('TRANS_STMT_', '') }];
  if ('CreateTrigStmt' in node) {
    const t = node.CreateTrigStmt;
    return ctx.created.has(tableKey(t.relation)) ? [] : [{ rule: 'trigger-on-existing-table', subject: `${t.trigname ?? ''} ON ${tableName(t.relation)}` }];
  }
  if ('CreatePolicyStmt' in node) {
    const p = node.CreatePolicyStmt;
    return ctx.created.has(tableKey(p.table)) ? [] : [{ rule: 'row-security', subject: `${p.policy_name ?? ''} ON ${tableName(p.table)}` }];
  }
  if ('GrantStmt' in node) return node.GrantStmt.is_grant ? [] : [{ rule: 'revoke', subject: strings(node.GrantStmt.objects).join(', ') }];
  if ('DropdbStmt' in node) return [{ rule: 'drop-database', subject: node.DropdbStmt.dbname ?? '' }];
  if ('AlterDomainStmt' in node) {
    const type = qualified(strings(node.AlterDomainStmt.typeName));
    return ctx.created.has(type) ? [] : [{ rule: 'alter-domain', subject: strings(node.AlterDomainStmt.typeName).join('.') }];
  }
  if ('ReindexStmt' in node) {
    const r = node.ReindexStmt;
    const subject = `REINDEX ${(r.kind ?? '').replace('REINDEX_OBJECT_', '')} ${r.relation ? tableName(r.relation) : (r.name ?? '')}`;
    if (!booleanOption(r.params, 'concurrently')) return [{ rule: 'reindex', subject }];
    return ctx.noTransaction ? [] : [{ rule: 'concurrently-in-transaction', subject }];
  }
  const additive = ['CommentStmt', 'CreateSchemaStmt', 'CreateExtensionStmt', 'VariableSetStmt', 'SelectStmt'];
  if (additive.some((k) => k in node)) return [];
  return [{ rule: 'unrecognised-statement', subject: Object.keys(node)[0] ?? 'statement' }];
}
