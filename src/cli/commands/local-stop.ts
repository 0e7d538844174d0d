import { stopLocal } from '../../ops/runtimes/local/control.js';
import { parseFlags, type Command } from '../command.js';

export const command: Command = {
  help: `Usage: tpctl local stop

Stops the Tenant Plane and its supervisor (SIGTERM; the server finishes requests in flight).

Examples:
  tpctl local stop`,
  async run(args, f) {
    const { io } = f;
    parseFlags(args, {});
    const stopped = await stopLocal(f.dataDir);
    io.out(stopped ? `stopped (it ran ${stopped.version})` : 'the local runtime is not running');
    return 'done';
  },
};
