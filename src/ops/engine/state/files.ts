import path from 'node:path';

/** The files in the data directory that say what was done and what is under way: one place names them. */
export const stateFiles = (dataDir: string) => ({
  history: path.join(dataDir, '.atlas-upgrade-history'),
  previous: path.join(dataDir, '.atlas-previous-version'),
  journal: path.join(dataDir, '.atlas-operation.json'),
  lock: path.join(dataDir, '.atlas-operation.lock'),
});
