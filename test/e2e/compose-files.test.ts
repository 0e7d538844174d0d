import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { composeDeployments, historyOutcomes } from '../support/compose-e2e.js';
import type { Deployment } from '../support/docker.js';

/**
 * Compose files as operators write them, on a real Docker Engine: compose.yaml with the settings
 * in an anchor, an override file, COMPOSE_FILE with two files, a tag from .env; each upgraded to
 * 1.3.0 and rolled back by the guide's scripts, every file kept character for character.
 */
const deployment = composeDeployments();

describe('Compose files as operators write them: upgrade to 1.3.0 and back, each character kept', () => {
  /** The Tenant Plane's settings for the test, as YAML lines at `indent` spaces. */
  const settings = (service: Record<string, unknown>, indent: number) => stringify(service).trimEnd().replace(/^/gm, ' '.repeat(indent));

  async function upgradeAndBack(d: Deployment, edited: Record<string, (before: string) => string>): Promise<void> {
    const before = Object.fromEntries(Object.keys(edited).map((f) => [f, d.read(f)]));
    const up = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', SKIP_BACKUP: '1' });
    expect(up.stdout).toMatch(/^upgraded 1\.2\.2 -> 1\.3\.0 in /);
    expect(up.code).toBe(0);
    expect(d.versionFile()).toBe('1.3.0');
    expect(d.read('data/.atlas-previous-version')).toBe('1.2.2\n');
    for (const [file, change] of Object.entries(edited)) expect({ file, text: d.read(file) }).toEqual({ file, text: change(before[file]!) });

    const back = await d.script('rollback-tp.sh');
    expect(back.stdout).toMatch(/^rolled back 1\.3\.0 -> 1\.2\.2 in /);
    expect(back.code).toBe(0);
    expect(d.versionFile()).toBe('1.2.2');
    for (const [file, text] of Object.entries(before)) expect({ file, text: d.read(file) }).toEqual({ file, text });
    expect(historyOutcomes(d)).toEqual(['1.2.2 -> 1.3.0 SUCCESS', 'ROLLBACK 1.3.0 -> 1.2.2']);
  }

  const upgrade = (from: string, to: string) => (text: string) => text.replace(from, to);

  it('compose.yaml with the settings in an anchor (`<<: *tp`): the anchor is edited', async () => {
    const d = await deployment('1.2.2', (service) => ({
      'compose.yaml': `# Our Tenant Plane.\nx-tenant-plane: &tp\n  image: atlasai/tenant-plane:1.2.2 # the release we run\n  restart: unless-stopped\n${settings(service, 2)}\n\nservices:\n  tenant-plane:\n    <<: *tp\n`,
    }));
    await upgradeAndBack(d, { 'compose.yaml': upgrade(':1.2.2 #', ':1.3.0 #') });
  });

  it('docker-compose.yml says 1.0.0, docker-compose.override.yml pins 1.2.2: 1.2.2 is what runs, and the override is edited', async () => {
    const d = await deployment('1.2.2', (service) => ({
      'docker-compose.yml': `services:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.0.0\n${settings(service, 4)}\n`,
      'docker-compose.override.yml': '# pinned while 1.0.0 is retired\nservices:\n  tenant-plane:\n    image: "atlasai/tenant-plane:1.2.2"\n',
    }));
    const status = await d.tpctl(['status']);
    expect(status.stdout).toMatch(/^configured: 1\.2\.2$/m);
    await upgradeAndBack(d, { 'docker-compose.override.yml': upgrade(':1.2.2"', ':1.3.0"'), 'docker-compose.yml': (t) => t });
  });

  it('COMPOSE_FILE=a.yml:b.yml, the tag in the second', async () => {
    const d = await deployment(
      '1.2.2',
      (service) => ({
        'a.yml': `services:\n  tenant-plane:\n${settings(service, 4)}\n`,
        'b.yml': 'services:\n  tenant-plane:\n    image: atlasai/tenant-plane:1.2.2\n',
      }),
      { COMPOSE_FILE: 'a.yml:b.yml' },
    );
    await upgradeAndBack(d, { 'b.yml': upgrade(':1.2.2', ':1.3.0'), 'a.yml': (t) => t });
  });

  it("a tag from ${ATLAS_VERSION} in .env (the scripts' own ATLAS_VERSION does not leak into Compose); a digest pin is refused, nothing changed", async () => {
    const d = await deployment('1.2.2', (service) => ({
      'docker-compose.yml': `services:\n  tenant-plane:\n    image: atlasai/tenant-plane:\${ATLAS_VERSION}\n${settings(service, 4)}\n`,
      '.env': '# the release we run\nATLAS_VERSION=1.2.2\nOTHER=kept\n',
    }));
    await upgradeAndBack(d, { '.env': upgrade('=1.2.2', '=1.3.0'), 'docker-compose.yml': (t) => t });

    const digest = `sha256:${'0'.repeat(64)}`;
    const pinned = d.read('docker-compose.yml').replace('${ATLAS_VERSION}', `\${ATLAS_VERSION}@${digest}`);
    writeFileSync(path.join(d.dir, 'docker-compose.yml'), pinned);
    const refused = await d.script('upgrade-tp.sh', { ATLAS_VERSION: '1.3.0', SKIP_BACKUP: '1' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(
      `tenant-plane is pinned by digest (atlasai/tenant-plane:1.2.2@${digest}): Docker runs that digest whatever the tag says, so changing the tag would change nothing. Remove "@${digest}"`,
    );
    expect(refused.stderr).toContain('nothing was changed');
    expect(d.read('docker-compose.yml')).toBe(pinned);
    expect(d.read('.env')).toContain('ATLAS_VERSION=1.2.2\n');
    expect(d.versionFile()).toBe('1.2.2');
  });
});
