import { createUser, ROLES, UserInputError, type Role } from '../../db/users.js';
import { parseFlags, readStdin, type Command } from '../command.js';
import { CliError } from '../io.js';

export const command: Command = {
  help: `Usage: tpctl user create --email EMAIL [--role admin|operator|viewer] [--name NAME] [--password-stdin] [--json]

Creates a user in the database (DB_URL, or the embedded database in ATLAS_DATA_DIR).
The password is never a flag (it would show in the process list and shell history):
it is read from standard input with --password-stdin, else from ATLAS_ADMIN_PASSWORD.
The role defaults to admin. Passwords have at least 12 characters.

Examples:
  read -rs PASSWORD; printf '%s' "$PASSWORD" | tpctl user create --email ops@example.com --role operator --password-stdin`,
  async run(args, f) {
    const { io } = f;
    const { values } = parseFlags(args, {
      email: { type: 'string' },
      role: { type: 'string', default: 'admin' },
      name: { type: 'string' },
      'password-stdin': { type: 'boolean' },
      json: { type: 'boolean' },
    });
    if (!values.email) throw new CliError('--email is required');
    if (!ROLES.includes(values.role as Role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`);
    const password = values['password-stdin'] ? (await readStdin(io.stdin)).replace(/\r?\n$/, '') : io.env.ATLAS_ADMIN_PASSWORD;
    if (!password) throw new CliError('give the password on standard input with --password-stdin, or in ATLAS_ADMIN_PASSWORD');
    const db = await f.openDatabase();
    try {
      const user = await createUser(db, { email: values.email, password, role: values.role as Role, name: values.name });
      if (!user) throw new CliError(`a user with the email ${values.email.trim().toLowerCase()} already exists`);
      io.out(values.json ? JSON.stringify({ user }, null, 2) : `created ${user.role} ${user.email} (${user.id})`);
      return 'done';
    } catch (err) {
      if (err instanceof UserInputError) throw new CliError(err.message);
      throw err;
    } finally {
      await db.close();
    }
  },
};
