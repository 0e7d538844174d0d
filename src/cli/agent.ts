#!/usr/bin/env node
import { parseArgs } from 'node:util';
import pino from 'pino';
import { CredentialRefused, EdgeAgent, EnrollmentRefused, enroll } from '../agent/agent.js';
import { AnswerError } from '../shared/answers.js';
import { AgentConfigError, loadAgentConfig } from '../agent/config.js';
import { AgentState } from '../agent/state.js';
import { readAppVersion } from '../shared/version.js';

const HELP = `atlas-edge-agent: runs runbooks for the AtlasAI Tenant Plane on this host

Usage:
  atlas-edge-agent enroll --config FILE [--token-stdin]
  atlas-edge-agent run --config FILE

enroll  spends a one-time enrollment token (from ATLAS_ENROLLMENT_TOKEN, or standard input
        with --token-stdin; an admin makes one in the Tenant Plane) for this agent's own
        credential, kept in the state directory (mode 0600).
run     reports in every checkinIntervalSeconds, long-polls for executions, runs only the
        runbooks of its configuration, and keeps each result until it is acknowledged.
        While the Tenant Plane is unreachable it retries with jittered backoff, capped at
        backoffCapSeconds. SIGTERM stops it.

The configuration (JSON):
  { "server": "https://tp.example.com", "name": "edge-1", "stateDir": "./agent-state",
    "checkinIntervalSeconds": 15, "backoffCapSeconds": 30, "outputLimitBytes": 65536,
    "runbooks": { "disk-usage": { "command": ["df", "-h"], "timeoutSeconds": 30 } } }

Exit codes: 0 stopped, 2 bad configuration or input, 3 the Tenant Plane refused this agent.
`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    options: { config: { type: 'string' }, 'token-stdin': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  const command = positionals[0];
  if (values.help || !command) {
    process.stdout.write(HELP);
    return values.help ? 0 : 2;
  }
  if (!values.config) throw new AgentConfigError('--config FILE is required');
  const config = loadAgentConfig(values.config);
  const state = new AgentState(config.stateDir);
  const version = readAppVersion();
  const log = pino({ base: { service: 'edge-agent', agent: config.name }, timestamp: pino.stdTimeFunctions.isoTime });

  if (command === 'enroll') {
    const existing = state.readCredential();
    if (existing) throw new AgentConfigError(`already enrolled as agent ${existing.agentId}; to enroll again, remove ${state.dir}/credential.json`);
    const token = values['token-stdin'] ? await readStdin() : process.env.ATLAS_ENROLLMENT_TOKEN;
    if (!token) throw new AgentConfigError('give the enrollment token in ATLAS_ENROLLMENT_TOKEN, or on standard input with --token-stdin');
    const credential = await enroll(config, token, version);
    state.writeCredential(credential);
    log.info({ agentId: credential.agentId }, 'enrolled');
    return 0;
  }
  if (command === 'run') {
    const credential = state.readCredential();
    if (!credential) throw new AgentConfigError(`not enrolled yet: run atlas-edge-agent enroll --config ${values.config} first`);
    const agent = new EdgeAgent(config, state, credential, version, log);
    process.once('SIGTERM', () => agent.stop());
    process.once('SIGINT', () => agent.stop());
    try {
      await agent.run();
      log.info('stopped');
      return 0;
    } catch (err) {
      if (!(err instanceof CredentialRefused)) throw err;
      log.fatal({ error: err.message }, 'the Tenant Plane refused this agent: enroll it again with a new token');
      return 3;
    }
  }
  throw new AgentConfigError(`unknown command "${command}": enroll or run`);
}

try {
  process.exitCode = await main();
} catch (err) {
  if (!(err instanceof AgentConfigError) && !(err instanceof EnrollmentRefused) && !(err instanceof AnswerError)) throw err;
  process.stderr.write(`atlas-edge-agent: ${err.message}\n`);
  process.exitCode = 2;
}
