import { rotateKey } from '../../ops/backup/signing.js';
import { parseFlags, type Command } from '../command.js';

export const command: Command = {
  help: `Usage: tpctl backup rotate-key

Puts a new signing key at the head of the keyring ATLAS_BACKUP_KEY_FILE (default: backup-keys
in ATLAS_DATA_DIR): new backups are signed with it, and the older keys stay to check the
backups they signed. To retire a key, delete its line once no backup it signed is kept.

Exit code: 0 done, 2 refused (a keyring that is a link, not a regular file, or readable by others).

Examples:
  tpctl backup rotate-key`,
  async run(args, f) {
    parseFlags(args, {});
    const keys = f.backupKeys();
    const rotated = rotateKey(keys);
    f.io.out(`new signing key ${rotated.keyId} in ${keys.keyFile}; ${rotated.kept} older key(s) kept to check older backups`);
    return 'done';
  },
};
