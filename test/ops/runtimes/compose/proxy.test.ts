import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRoot } from '../../../../src/shared/app-root.js';
import { parseServersState, parseStat, ProxyApi, ProxyError } from '../../../../src/ops/runtimes/compose/proxy.js';
import { tempDir } from '../../../support/temp.js';
import { freePort } from '../../../support/postgres-server.js';

/** The proxy driver against a real HAProxy (Debian's, as the proxy image has it) running the shipped configuration. */
const dir = tempDir('atlas-proxy-');
const socket = path.join(dir, 'admin.sock');
let haproxy: ChildProcess;
let publicUrl: string;
const backends: http.Server[] = [];
let ports: { service: number; candidate: number };

/** A server that answers with its own name. */
const named = async (name: string) => {
  const server = http.createServer((_req, res) => res.end(name));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  backends.push(server);
  return (server.address() as AddressInfo).port;
};
const ask = async () => (await fetch(publicUrl)).text();

beforeAll(async () => {
  ports = { service: await named('service'), candidate: await named('candidate') };
  const port = await freePort();
  publicUrl = `http://127.0.0.1:${port}/`;
  const config = path.join(dir, 'haproxy.cfg');
  writeFileSync(config, readFileSync(path.join(appRoot, 'deploy', 'proxy', 'haproxy.cfg'), 'utf8').replace('/run/atlas-proxy/admin.sock', socket));
  haproxy = spawn('haproxy', ['-W', '-db', '-f', config], {
    stdio: 'ignore',
    env: {
      ...process.env,
      ATLAS_PROXY_BIND: `127.0.0.1:${port}`,
      ATLAS_PROXY_SERVICE: `127.0.0.1:${ports.service}`,
      ATLAS_PROXY_CANDIDATE: `127.0.0.1:${ports.candidate}`,
    },
  });
  for (let i = 0; i < 100 && !existsSync(socket); i++) await new Promise((r) => setTimeout(r, 50));
});

afterAll(() => {
  haproxy?.kill('SIGTERM');
  for (const server of backends) server.close();
});

describe("the proxy, through HAProxy's runtime API", () => {
  const api = () => new ProxyApi(socket, undefined);

  it('reads where the service and the candidate are, from the configuration as HAProxy resolved it', async () => {
    expect(await api().servers()).toEqual({
      service: { ip: '127.0.0.1', port: ports.service, name: undefined },
      candidate: { ip: '127.0.0.1', port: ports.candidate, name: undefined },
    });
  });

  it('sends the traffic to the service only, then to the candidate, then back; a drained server has nothing under way', async () => {
    for (let i = 0; i < 5; i++) expect(await ask()).toBe('service');
    await api().route('candidate');
    for (let i = 0; i < 5; i++) expect(await ask()).toBe('candidate');
    expect((await api().load()).service.status).toBe('DRAIN');
    await api().drained('service', 2_000);
    await api().route('service');
    await api().retireCandidate();
    for (let i = 0; i < 5; i++) expect(await ask()).toBe('service');
    expect((await api().load()).candidate.status).toBe('MAINT');
  });

  it('a command HAProxy refuses is an error with its words; an unknown socket says to start the proxy', async () => {
    await expect(api().setAddress('candidate', 'not-an-address', 1)).rejects.toThrow(
      /the proxy refused "set server tenant-plane\/candidate addr not-an-address port 1": /,
    );
    await expect(new ProxyApi(path.join(dir, 'none.sock'), undefined).servers()).rejects.toThrow(
      /does not answer \(ENOENT\): start the proxy \(docker compose up -d proxy\)/,
    );
  });
});

describe("reading HAProxy's answers", () => {
  // As HAProxy 2.6 prints them (captured from the shipped configuration).
  const state = `1
# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port
3 tenant-plane 1 service 127.0.0.1 2 0 1 1 1 1 0 2 0 0 0 0 - 39001 - 0 0 - - 0
3 tenant-plane 2 candidate 0.0.0.0 0 5 1 1 1 1 0 0 8 0 0 0 tenant-plane-candidate 3000 - 0 0 - - 0
`;

  it('a named server without an address yet (a bridge network) is found by its name', () => {
    expect(parseServersState(state)).toEqual({
      service: { ip: '127.0.0.1', port: 39001, name: undefined },
      candidate: { ip: undefined, port: 3000, name: 'tenant-plane-candidate' },
    });
  });

  it('anything else is refused, saying what was missing', () => {
    expect(() => parseServersState('Unknown command.\n')).toThrow(ProxyError);
    expect(() => parseServersState(state.replace(/\n3 tenant-plane 2 candidate.*\n/, '\n'))).toThrow(
      /has no server "candidate" with a port: is this the Tenant Plane's proxy\?/,
    );
    expect(() => parseServersState(state.replace('39001', 'port'))).toThrow(/no server "service" with a port/);
    expect(() => parseStat('# pxname,svname,qcur,qmax,scur\nother,service,0,0,0\n')).toThrow(/no server tenant-plane\/service/);
    expect(parseStat('# pxname,svname,qcur,qmax,scur,x,status\ntenant-plane,service,1,0,2,,UP\ntenant-plane,candidate,0,0,0,,MAINT\n')).toEqual({
      service: { active: 3, status: 'UP' },
      candidate: { active: 0, status: 'MAINT' },
    });
  });
});
