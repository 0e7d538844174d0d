import { stateFiles } from '../../ops/engine/state/files.js';
import { formatHistoryLine, readHistory } from '../../ops/engine/state/history.js';
import { withRunRecords } from '../../ops/engine/state/run-record.js';
import { parseFlags, type Command } from '../command.js';

export const command: Command = {
  help: `Usage: tpctl history [--json]

Prints ./data/.atlas-upgrade-history. With --json, each record also carries what its run
log's record holds: the steps with their durations, the backup, the health evidence.

Examples:
  tpctl history
  tpctl history --json`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, { json: { type: 'boolean' } });
    const entries = readHistory(stateFiles(f.dataDir).history);
    if (values.json) {
      io.out(JSON.stringify(withRunRecords(entries), null, 2));
    } else {
      io.out(entries.length ? entries.map(formatHistoryLine).join('\n') : 'no upgrades or rollbacks recorded');
    }
    return 'done';
  },
};
