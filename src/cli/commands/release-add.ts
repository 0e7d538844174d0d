import { addRelease } from '../../ops/runtimes/local/control.js';
import { parseFlags, type Command } from '../command.js';
import { CliError } from '../io.js';

export const command: Command = {
  help: `Usage: tpctl release add RELEASE_DIR_OR_TAR_GZ

Copies a staged release (scripts/build-release.sh makes one: ATLAS_VERSION=1.3.0 bash
scripts/build-release.sh) into ATLAS_DATA_DIR/releases/<version>/, beside the others. The
version is the release's own .atlas-version. The first release added becomes current.

Examples:
  ATLAS_VERSION=1.3.0 bash scripts/build-release.sh
  tpctl release add build/releases/1.3.0`,
  async run(args, f) {
    const { io } = f;
    const { positionals } = parseFlags(args, {}, 1);
    const source = positionals[0];
    if (!source) throw new CliError('name a release directory or .tar.gz, e.g. tpctl release add build/releases/1.3.0');
    f.remember('local', 'tpctl release add');
    const added = await addRelease(f.dataDir, source, f.executor(undefined, []));
    io.out(`added release ${added.version}: ${added.dir}${added.current ? ' (current: the first release added)' : ''}`);
    return 'done';
  },
};
