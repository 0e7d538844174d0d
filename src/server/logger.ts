import pino, { type Logger } from 'pino';
import { redactSecrets } from '../shared/redact.js';

/**
 * Structured JSON logs. Known secret fields are removed by path, and every line is scrubbed of
 * the given secrets (the DB_URL password, the bootstrap admin password) as a last line of defence.
 */
export function createLogger(level: string, secrets: readonly string[]): Logger {
  const scrub = [...secrets, ...secrets.map((s) => JSON.stringify(s).slice(1, -1))].filter((s) => s.length >= 4);
  return pino({
    level,
    base: { service: 'tenant-plane' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'req.headers.authorization', 'req.headers.cookie'],
      censor: '***',
    },
    hooks: { streamWrite: (line) => redactSecrets(line, scrub) },
  });
}
