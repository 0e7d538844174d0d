import type { FastifyInstance } from 'fastify';
import type { Database, Queryable } from '../../db/database.js';
import { userAnswer, usersAnswer } from '../../shared/api-shapes.js';
import { apiTokensRepository } from '../../db/api-tokens.js';
import { createUser, ROLES, toUser, UserInputError, usersRepository, type Role, type User } from '../../db/users.js';
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
  /** With a new password: whether the user's API tokens go too (they do unless told otherwise). */
  revokeTokens?: boolean;
}

const role = { type: 'string', enum: [...ROLES] } as const;
const name = { type: 'string', maxLength: 200 } as const;
const password = { type: 'string', maxLength: 1024 } as const;

/**
 * Refuses a change that would leave no enabled admin: nobody could manage users any more. The
 * admin rows are locked so that two admins demoting each other at once cannot both pass.
 */
async function assertAnAdminRemains(tx: Queryable, changedId: string): Promise<void> {
  const admins = await usersRepository(tx).lockActiveAdmins();
  if (!admins.some((id) => id !== changedId)) {
    throw conflict('this is the last enabled admin; make another user admin first');
  }
}

export function userRoutes(app: FastifyInstance, db: Database): void {
  app.get('/api/admin/users', { schema: { response: { 200: usersAnswer } } }, async () => {
    return { users: (await usersRepository(db).list()).map(publicUser) };
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
          properties: { name, role, disabled: { type: 'boolean' }, password, revokeTokens: { type: 'boolean' } },
        },
        response: { 200: userAnswer },
      },
    },
    async (request) => {
      const patch = request.body;
      // Tokens go with a password reset, not on their own (revoking them is DELETE /api/tokens, the owner's).
      if (patch.revokeTokens !== undefined && patch.password === undefined) throw badRequest('revokeTokens goes with a new password');
      const problem = patch.password === undefined ? undefined : passwordProblem(patch.password);
      if (problem) throw badRequest(problem);
      const passwordHash = patch.password === undefined ? null : await hashPassword(patch.password);
      const user = await db.transaction(async (tx) => {
        const users = usersRepository(tx);
        const current = await users.lock(request.params.id);
        if (!current) throw notFound(`no user ${request.params.id}`);
        const losesAdmin = current.role === 'admin' && ((patch.role && patch.role !== 'admin') || patch.disabled === true);
        if (losesAdmin) await assertAnAdminRemains(tx, request.params.id);
        const updated = await users.update(request.params.id, {
          name: patch.name ?? null,
          role: patch.role ?? null,
          disabled: patch.disabled ?? null,
          passwordHash,
        });
        if (patch.disabled === true || passwordHash) await endAllSessions(tx, request.params.id);
        // A password set by an admin is a reset: whatever the old one let in goes, API tokens too
        // unless the admin keeps them (a forgotten password, not a stolen one).
        if (passwordHash && patch.revokeTokens !== false) await apiTokensRepository(tx).revokeAll(request.params.id);
        return updated ?? toUser({});
      });
      return { user: publicUser(user) };
    },
  );
}
