import type { Database, Queryable } from './database.js';
import { hashPassword, passwordProblem } from '../shared/password.js';

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export type Role = (typeof ROLES)[number];

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  disabled: boolean;
  createdAt: Date;
}

/** The columns toUser reads, optionally qualified by a table alias. */
export function userColumns(alias?: string): string {
  const prefix = alias ? `${alias}.` : '';
  return ['id', 'email', 'name', 'role', 'disabled', 'created_at'].map((c) => prefix + c).join(', ');
}

export function toUser(row: Record<string, unknown>): User {
  return {
    id: row.id as string,
    email: row.email as string,
    name: row.name as string,
    role: row.role as Role,
    disabled: row.disabled as boolean,
    createdAt: row.created_at as Date,
  };
}

export class UserInputError extends Error {}

const EMAIL_RE = /^[^\s@]{1,64}@[^\s@]{1,190}\.[^\s@]{1,63}$/;

/** Whether an administrator was ever made (a new installation has none). */
export async function adminExists(db: Queryable): Promise<boolean> {
  return (await db.query(`SELECT 1 FROM users WHERE role = 'admin' LIMIT 1`)).length > 0;
}

/** The command that creates the first administrator; it asks nothing on the terminal but the password (not echoed). */
export const CREATE_FIRST_ADMIN = `read -rs -p 'Password: ' PASSWORD && printf '%s' "$PASSWORD" | npx tpctl user create --email you@example.com --password-stdin`;

/**
 * How to create the first administrator, for the log and the login page of an installation that
 * has none: on the embedded database, which one process at a time may open, with the Tenant Plane stopped.
 */
export function firstAdminHowTo(kind: Database['kind']): { before: string; after: string } {
  const alternative = 'or start the Tenant Plane once with ATLAS_ADMIN_EMAIL and ATLAS_ADMIN_PASSWORD set';
  return kind === 'embedded'
    ? {
        before: 'stop the Tenant Plane (Ctrl-C where npm start runs; npx tpctl local stop on the local runtime), run in the same directory',
        after: `(a password of 12 characters or more), then start it again; ${alternative}`,
      }
    : { before: 'run on this host, with the same DB_URL', after: `(a password of 12 characters or more); ${alternative}` };
}

export function normalizeEmail(email: string): string {
  const normalized = email.trim().toLowerCase();
  if (!EMAIL_RE.test(normalized)) throw new UserInputError(`"${email.slice(0, 80)}" is not an email address`);
  return normalized;
}

export interface NewUser {
  email: string;
  password: string;
  role: Role;
  name?: string | undefined;
}

/** Creates a user; returns undefined when the email is already taken. */
export async function createUser(db: Queryable, input: NewUser): Promise<User | undefined> {
  const email = normalizeEmail(input.email);
  const problem = passwordProblem(input.password);
  if (problem) throw new UserInputError(problem);
  if (!ROLES.includes(input.role)) throw new UserInputError(`role must be one of ${ROLES.join(', ')}`);
  const [row] = await db.query(
    `INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
     ON CONFLICT (email) DO NOTHING RETURNING ${userColumns()}`,
    [email, input.name ?? '', input.role, await hashPassword(input.password)],
  );
  return row ? toUser(row) : undefined;
}

export interface UserChange {
  name: string | null;
  role: Role | null;
  disabled: boolean | null;
  passwordHash: string | null;
}

/** Users as admins manage them and as a login finds them. */
export function usersRepository(q: Queryable) {
  return {
    async list(): Promise<User[]> {
      return (await q.query(`SELECT ${userColumns()} FROM users ORDER BY email`)).map(toUser);
    },

    /** The user, its row locked until the transaction ends. */
    async lock(id: string): Promise<User | undefined> {
      const [row] = await q.query(`SELECT ${userColumns()} FROM users WHERE id = $1 FOR UPDATE`, [id]);
      return row && toUser(row);
    },

    /** The ids of the enabled admins, their rows locked: two admins demoting each other at once cannot both pass. */
    async lockActiveAdmins(): Promise<string[]> {
      return (await q.query<{ id: string }>(`SELECT id FROM users WHERE role = 'admin' AND NOT disabled FOR UPDATE`)).map((a) => a.id);
    },

    async update(id: string, c: UserChange): Promise<User | undefined> {
      const [row] = await q.query(
        `UPDATE users SET name = coalesce($2, name), role = coalesce($3, role), disabled = coalesce($4, disabled),
                password_hash = coalesce($5, password_hash), updated_at = now()
          WHERE id = $1 RETURNING ${userColumns()}`,
        [id, c.name, c.role, c.disabled, c.passwordHash],
      );
      return row && toUser(row);
    },

    /** The user with this (normalized) email and its password hash, for a login. */
    async forLogin(email: string): Promise<{ user: User; passwordHash: string } | undefined> {
      const [row] = await q.query(`SELECT ${userColumns()}, password_hash FROM users WHERE email = $1`, [email]);
      return row && { user: toUser(row), passwordHash: row.password_hash as string };
    },
  };
}
