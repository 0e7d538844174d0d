import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (holds package.json, migrations/ and, in a release, .atlas-version). */
export const appRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
