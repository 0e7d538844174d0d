import path from 'node:path';
import { backupFilePattern } from '../../shared/names.js';
import type { DatabaseWork } from '../backup/database-work.js';
import type { OpsContext } from '../engine/engine.js';
import type { Step } from '../engine/step.js';
import { outputs } from './outputs.js';

/** A verified backup of the database as it is before anything changes (kept, whatever follows). */
export function backupDatabase(database: DatabaseWork, version: string): Step {
  return {
    name: 'backup',
    what: `back up the database before anything changes: ${path.join(database.backupDir, backupFilePattern(version))}`,
    produces: [outputs.backup],
    async run(facts) {
      const backup = await database.backup(version);
      facts.put(outputs.backup, backup.file);
      return backup.detail;
    },
  };
}

/** Restores a backup, all or nothing (the Tenant Plane stopped); its undo puts back the data it replaced. */
export function restoreDatabase(ctx: OpsContext, database: DatabaseWork, file: string, keepNew: boolean): Step {
  return {
    name: 'restore',
    what: `restore ${file}${keepNew ? ', carrying over the rows created since the backup' : ''}`,
    atomic: true,
    produces: [outputs.restored, outputs.sinceBackup],
    async run(facts) {
      const restored = await database.restore(file, keepNew);
      facts.put(outputs.restored, file);
      facts.put(outputs.sinceBackup, restored.sinceBackup);
      return restored.detail;
    },
    undo: {
      name: 'undo-restore',
      what: 'stop the Tenant Plane and put back the data the restore replaced',
      restarts: false,
      produces: [outputs.restoreUndone],
      async run(facts) {
        await ctx.runtime.stop();
        const undone = await database.undoRestore();
        facts.put(outputs.restoreUndone, undone.restored.name);
        return `put back ${undone.putBack.kind} ${undone.putBack.name}; the restored data is kept as ${undone.restored.kind} ${undone.restored.name}`;
      },
    },
  };
}
