import type { FastifyInstance } from 'fastify';
import type { Database, Queryable } from '../../db/database.js';
import { userAnswer, usersAnswer } from '../../shared/api-shapes.js';
import { createUser, ROLES, toUser, userColumns, UserInputError, type Role, type User } from '../../db/users.js';
import { hashPassword, passwordProblem } from '../../shared/password.js';
import { endAllSessions } from '../auth/sessions.js';
import { badRequest, conflict, notFound } from '../errors.js';
import { idParams, type IdParams } from './schemas.js';

/** What the API shows of a user: never the password hash. */
export function publicUser(user: User) {
  return { id: user.id, email: user.email, name: user.name, role: user.role, disabled: user.disabled, createdAt: user.createdAt };
}

interface NewUserBody {
  email: string;
  password: string;
  role: Role;
  name?: string;
}

interface UserPatch {
  name?: string;
  role?: Role;
  disabled?: boolean;
  password?: string;
}

const role = { type: 'string', enum: [...ROLES] } as const;
const name = { type: 'string', maxLength: 200 } as const;
const password = { type: 'string', maxLength: 1024 } as const;

/**
 * Refuses a change that would leave no enabled admin: nobody could manage users any more. The
 * admin rows are locked so that two admins demoting each other at once cannot both pass.
 */
async function assertAnAdminRemains(tx: Queryable, changedId: string): Promise<void> {
  const admins = await tx.query<{ id: string }>(`SELECT id FROM users WHERE role = 'admin' AND NOT disabled FOR UPDATE`);
  if (!admins.some((a) => a.id !== changedId)) {
    throw conflict('this is the last enabled admin; make another user admin first');
  }
}

export function userRoutes(app: FastifyInstance, db: Database): void {
  app.get('/api/admin/users', { schema: { response: { 200: usersAnswer } } }, async () => {
    const rows = await db.query(`SELECT ${userColumns()} FROM users ORDER BY email`);
    return { users: rows.map((r) => publicUser(toUser(r))) };
  });

  app.post<{ Body: NewUserBody }>(
    '/api/admin/users',
    {
      schema: {
        body: {
          type: 'object',
          required: ['email', 'password', 'role'],
          additionalProperties: false,
          properties: { email: { type: 'string', maxLength: 320 }, password, role, name },
        },
        response: { 201: userAnswer },
      },
    },
    async (request, reply) => {
      let user: User | undefined;
      try {
        user = await createUser(db, request.body);
      } catch (err) {
        if (err instanceof UserInputError) throw badRequest(err.message);
        throw err;
      }
      if (!user) throw conflict(`a user with the email ${request.body.email.trim().toLowerCase()} already exists`);
      void reply.code(201);
      return { user: publicUser(user) };
    },
  );

  app.patch<{ Params: IdParams; Body: UserPatch }>(
    '/api/admin/users/:id',
    {
      schema: {
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: { name, role, disabled: { type: 'boolean' }, password },
        },
        response: { 200: userAnswer },
      },
    },
    async (request) => {
      const patch = request.body;
      const problem = patch.password === undefined ? undefined : passwordProblem(patch.password);
      if (problem) throw badRequest(problem);
      const passwordHash = patch.password === undefined ? null : await hashPassword(patch.password);
      const user = await db.transaction(async (tx) => {
        const [current] = await tx.query(`SELECT ${userColumns()} FROM users WHERE id = $1 FOR UPDATE`, [request.params.id]);
        if (!current) throw notFound(`no user ${request.params.id}`);
        const losesAdmin = current.role === 'admin' && ((patch.role && patch.role !== 'admin') || patch.disabled === true);
        if (losesAdmin) await assertAnAdminRemains(tx, request.params.id);
        const [row] = await tx.query(
          `UPDATE users SET name = coalesce($2, name), role = coalesce($3, role), disabled = coalesce($4, disabled),
                  password_hash = coalesce($5, password_hash), updated_at = now()
            WHERE id = $1 RETURNING ${userColumns()}`,
          [request.params.id, patch.name ?? null, patch.role ?? null, patch.disabled ?? null, passwordHash],
        );
        if (patch.disabled === true || passwordHash) await endAllSessions(tx, request.params.id);
        // A password set by an admin is a reset: whatever the old one let in goes, API tokens too.
        if (passwordHash) await tx.query('UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [request.params.id]);
        return toUser(row ?? {});
      });
      return { user: publicUser(user) };
    },
  );
}
