import { existsSync, readFileSync } from 'node:fs';
import { describeRelease, parseDeclared, RELEASE_FILE } from '../../ops/core/release-metadata.js';
import { readAppVersion } from '../../shared/version.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';

export const command: Command = {
  help: `Usage: tpctl release describe [--declared FILE]

Prints this release's metadata as JSON, as the build ships it in /app/${RELEASE_FILE} and in
the image label org.atlasai.release: the version, each migration with its checksum and lint
verdict (additive, or the rules waived), minimumUpgradeFrom (declared in the repository's
${RELEASE_FILE}, read from --declared) and the oldest version it can be rolled back to without
a restore. scripts/build-release.sh runs it; refused (exit 2) when a migration does not pass
tpctl migrate lint.

Examples:
  tpctl release describe`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { declared: { type: 'string' } });
    const file = values.declared;
    if (file !== undefined && !existsSync(file)) throw new CliError(`no such file: ${file}`);
    const declared = file ? parseDeclared(readFileSync(file, 'utf8'), file) : { minimumUpgradeFrom: null };
    io.out(JSON.stringify(await describeRelease(readAppVersion(), declared), null, 2));
    return 'done';
  },
};
