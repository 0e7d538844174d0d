import type { KeyObject } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Database } from '../../db/database.js';
import { licenseRepository } from '../../db/license.js';
import { licenseAnswer } from '../../shared/api-shapes.js';
import { caller } from '../auth/access.js';
import { badRequest } from '../errors.js';
import { checkLicense } from '../license.js';

/** The running version and the license; the version is shown whatever state the license is in. */
export function licenseRoutes(app: FastifyInstance, db: Database, version: string, publicKey: KeyObject): void {
  app.get('/api/admin/license', { schema: { response: { 200: licenseAnswer } } }, async () => {
    return { version, license: checkLicense(await licenseRepository(db).document(), publicKey) };
  });

  app.put<{ Body: { document: string } }>(
    '/api/admin/license',
    {
      schema: {
        body: {
          type: 'object',
          required: ['document'],
          additionalProperties: false,
          properties: { document: { type: 'string', minLength: 1, maxLength: 8192 } },
        },
        response: { 200: licenseAnswer },
      },
    },
    async (request) => {
      const report = checkLicense(request.body.document, publicKey);
      if (report.status === 'invalid') throw badRequest(`license refused: ${report.message}`);
      await licenseRepository(db).install(request.body.document.trim(), caller(request).id);
      return { version, license: report };
    },
  );
}
