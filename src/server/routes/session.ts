import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { meAnswer, noContent, userAnswer } from '../../shared/api-shapes.js';
import { normalizeEmail, UserInputError, usersRepository } from '../../db/users.js';
import { UNKNOWN_USER_HASH, verifyPassword } from '../../shared/password.js';
import { caller } from '../auth/access.js';
import { LoginThrottler } from '../auth/login-throttle.js';
import { endSession, startSession } from '../auth/sessions.js';
import type { LoginThrottle } from '../config.js';
import { badRequest, HttpError } from '../errors.js';
import { publicUser } from './users.js';

interface LoginBody {
  email: string;
  password: string;
}

export function sessionRoutes(app: FastifyInstance, db: Database, limits: LoginThrottle, sessionTtlSeconds: number): void {
  const throttle = new LoginThrottler(db, limits);

  app.post<{ Body: LoginBody }>(
    '/api/login',
    {
      config: { access: 'public' },
      schema: {
        body: {
          type: 'object',
          required: ['email', 'password'],
          additionalProperties: false,
          properties: { email: { type: 'string', maxLength: 320 }, password: { type: 'string', maxLength: 1024 } },
        },
        response: { 200: userAnswer },
      },
    },
    async (request, reply) => {
      let email: string;
      try {
        email = normalizeEmail(request.body.email);
      } catch (err) {
        if (err instanceof UserInputError) throw badRequest(err.message);
        throw err;
      }
      const attempt = await throttle.begin(email, request.ip);
      if ('retryAfter' in attempt) {
        throw new HttpError(429, 'too_many_attempts', `too many failed logins; try again in ${attempt.retryAfter} s`, {
          'retry-after': String(attempt.retryAfter),
        });
      }
      const found = await usersRepository(db).forLogin(email);
      const passwordOk = await verifyPassword(request.body.password, found?.passwordHash ?? UNKNOWN_USER_HASH);
      if (!found || !passwordOk) throw new HttpError(401, 'invalid_credentials', 'the email or the password is wrong');
      const user = found.user;
      if (user.disabled) throw new HttpError(403, 'account_disabled', 'this account is disabled; ask an admin to enable it');
      await throttle.succeeded(attempt, email, request.ip);
      await startSession(db, request, reply, user.id, sessionTtlSeconds);
      return { user: publicUser(user) };
    },
  );

  app.post('/api/logout', { schema: { response: { 204: noContent } } }, async (request, reply) => {
    const user = caller(request);
    if (user.via.kind === 'token') {
      throw badRequest('an API token is not a session: revoke it with DELETE /api/tokens/<id> instead');
    }
    await endSession(db, reply, user.via.credential);
    void reply.code(204);
  });

  app.get('/api/me', { schema: { response: { 200: meAnswer } } }, async (request) => {
    const user = caller(request);
    return { user: publicUser(user), via: user.via.kind };
  });
}
