import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { loadModule } from 'libpg-query';
import { checkStatement, type Hit } from './check.js';
import { isRuleId, RULES, type RuleId, type Severity } from './rules.js';
import { readMigration, SqlSyntaxError, type Statement } from './source.js';

export interface Finding {
  file: string;
  line: number;
  column: number;
  rule: RuleId;
  severity: Severity;
  /** The statement's first line, as written. */
  statement: string;
  subject: string;
  context?: string;
  breaks: string;
  instead: string;
  /** The reason given by a `-- atlas:allow` waiver; a waived finding does not fail the lint. */
  waived?: string;
}

export interface ParseFailure {
  file: string;
  line: number;
  column: number;
  message: string;
}

export interface LintReport {
  files: string[];
  findings: Finding[];
  parseErrors: ParseFailure[];
}

function finding(file: string, stmt: Statement, hit: Hit): Finding {
  const rule = RULES[hit.rule];
  return {
    file,
    line: stmt.line,
    column: stmt.column,
    rule: hit.rule,
    severity: hit.severity && rule.severity === 'violation' ? hit.severity : rule.severity,
    statement: stmt.text.split('\n')[0] ?? '',
    subject: hit.subject,
    ...(hit.context ? { context: hit.context } : {}),
    breaks: rule.breaks,
    instead: rule.instead,
  };
}

/** Lints one migration's SQL. Throws SqlSyntaxError when it does not parse. */
export function lintSql(file: string, sql: string): Finding[] {
  const source = readMigration(sql);
  const ctx = { created: new Set<string>(), noTransaction: source.noTransaction };
  const findings: Finding[] = [];
  for (const stmt of source.statements) {
    const hits = checkStatement(stmt.node, ctx);
    const own = hits.map((hit) => finding(file, stmt, hit));
    for (const waiver of stmt.waivers) {
      const at = { ...stmt, line: waiver.line, column: waiver.column };
      if (!isRuleId(waiver.rule)) {
        findings.push(finding(file, at, { rule: 'waiver-unknown-rule', subject: waiver.rule || '(no rule id)' }));
      } else if (!waiver.reason) {
        findings.push(finding(file, at, { rule: 'waiver-without-reason', subject: waiver.rule }));
      } else {
        const matched = own.filter((f) => f.rule === waiver.rule);
        for (const f of matched) f.waived = waiver.reason;
        if (matched.length === 0) findings.push(finding(file, at, { rule: 'unused-waiver', subject: waiver.rule }));
      }
    }
    findings.push(...own);
  }
  return findings;
}

/** The rules a migration's findings break, waived or not. */
export function breakingRules(findings: readonly Finding[]): RuleId[] {
  return [...new Set(findings.filter((f) => f.severity === 'violation').map((f) => f.rule))].sort();
}

/**
 * A migration's lint verdict, as recorded when it is applied and in the release metadata: the
 * rules it breaks, waived or not; none means additive. One that does not parse is not known to be.
 */
export async function verdictOf(file: string, sql: string): Promise<RuleId[]> {
  await loadModule();
  try {
    return breakingRules(lintSql(file, sql));
  } catch (err) {
    if (err instanceof SqlSyntaxError) return ['unrecognised-statement'];
    throw err;
  }
}

/** The .sql files named, or found (sorted) in the directories named. */
export function migrationFiles(paths: readonly string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((n) => n.endsWith('.sql'))
          .sort()
          .map((n) => path.join(p, n))
      : [p],
  );
}

export async function lintMigrations(paths: readonly string[]): Promise<LintReport> {
  await loadModule();
  const files = migrationFiles(paths);
  const report: LintReport = { files, findings: [], parseErrors: [] };
  for (const file of files) {
    try {
      report.findings.push(...lintSql(file, readFileSync(file, 'utf8')));
    } catch (err) {
      if (!(err instanceof SqlSyntaxError)) throw err;
      report.parseErrors.push({ file, ...err.position, message: err.message });
    }
  }
  return report;
}

export function countBySeverity(report: LintReport) {
  const open = report.findings.filter((f) => !f.waived);
  return {
    violations: open.filter((f) => f.severity === 'violation').length,
    review: open.filter((f) => f.severity === 'review').length,
    notes: open.filter((f) => f.severity === 'note').length,
    waived: report.findings.length - open.length,
  };
}

const LABEL: Record<Severity, string> = { violation: 'error', review: 'review', note: 'note' };

/** Compiler-style text: `file:line:col severity rule: statement`, then what breaks and what to do. */
export function formatReport(report: LintReport): string {
  const lines: string[] = [];
  for (const e of report.parseErrors) lines.push(`${e.file}:${e.line}:${e.column} syntax error: ${e.message}`);
  for (const f of report.findings.filter((x) => !x.waived)) {
    lines.push(
      `${f.file}:${f.line}:${f.column} ${LABEL[f.severity]} ${f.rule}: ${f.subject}${f.context && !f.subject.startsWith(f.context) ? ` (${f.context})` : ''}`,
    );
    lines.push(`    ${f.statement}`);
    lines.push(`  ${f.severity === 'note' ? 'note' : 'breaks'}: ${f.breaks}`);
    lines.push(`  instead: ${f.instead}`);
  }
  const waived = report.findings.filter((f) => f.waived);
  if (waived.length) {
    lines.push('waivers:');
    for (const f of waived) lines.push(`  ${f.file}:${f.line}:${f.column} ${f.rule} on ${f.subject}: ${f.waived ?? ''}`);
  }
  const n = countBySeverity(report);
  lines.push(
    `${report.files.length} file${report.files.length === 1 ? '' : 's'}: ${n.violations} violation${n.violations === 1 ? '' : 's'}, ` +
      `${n.review} for review, ${n.notes} note${n.notes === 1 ? '' : 's'}, ${n.waived} waived` +
      (report.parseErrors.length ? `, ${report.parseErrors.length} not parsed` : ''),
  );
  return lines.join('\n');
}
