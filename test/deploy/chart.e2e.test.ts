import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { byKind, container, deployment, chartDir, chartMetadata, chartValues, plainManifests, renderChart } from '../support/deploy-files.js';
import { platformTool, type PlatformTool } from '../support/platforms.js';
import { validateManifest } from '../support/k8s-schema.js';

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return --
   manifests are untyped YAML, read field by field */

/**
 * The chart checked by the real Helm, 3 and 4, built from their Go source modules (scripts/test-platforms.sh):
 * `helm lint`, and what `helm template` renders, against the Kubernetes API schemas and the plain
 * manifests of deploy/k8s.
 */
const values = chartValues();
const chart = chartMetadata();
const manifests = plainManifests();
const HELMS: PlatformTool[] = ['helm3', 'helm4'];

describe('deploy/helm/atlasai-tp, by the real Helm', () => {
  // Built from source the first time on a machine (a few minutes each), then reused.
  beforeAll(() => HELMS.forEach(platformTool), 900_000);

  it.each(HELMS)('passes %s lint, strict, and its values schema refuses a moving tag there too', (helm) => {
    const lint = (...args: string[]) => {
      try {
        return { code: 0, out: execFileSync(platformTool(helm), ['lint', '--strict', chartDir, ...args], { encoding: 'utf8', stdio: 'pipe' }) };
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string };
        return { code: e.status, out: e.stdout + e.stderr };
      }
    };
    expect(lint()).toMatchObject({ code: 0, out: expect.stringMatching(/1 chart\(s\) linted, 0 chart\(s\) failed/) as unknown });
    expect(lint('--set', 'image.tag=latest')).toMatchObject({
      code: 1,
      out: expect.stringContaining("at '/image/tag': 'latest' does not match pattern") as unknown,
    });
  });

  it('Helm 3 and Helm 4 render the same objects', () => {
    expect(renderChart({}, 'helm4')).toEqual(renderChart({}, 'helm3'));
  });

  it('renders objects that validate against the Kubernetes API schemas', () => {
    const docs = renderChart({ image: { ...values.image, tag: '1.2.2' } });
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'Deployment/atlasai-tp',
      'Job/atlasai-tp-pre-upgrade-backup',
      'PersistentVolumeClaim/atlasai-tp-backups',
      'PodDisruptionBudget/atlasai-tp',
      'Service/atlasai-tp',
    ]);
    for (const doc of docs) expect([doc.kind, validateManifest(doc)]).toEqual([doc.kind, []]);
    expect(container(docs).image).toBe('atlasai/tenant-plane:1.2.2');
    expect(deployment(docs).metadata.annotations['atlasai.io/version']).toBe('1.2.2');
    expect(container(renderChart()).image).toBe(`atlasai/tenant-plane:${String(chart.appVersion)}`);
  });

  it('stays thin over deploy/k8s: same kinds, names, labels, selectors, probes, ports, strategy', () => {
    const plain = manifests.map((m) => m.doc).filter((d) => d.kind !== 'Namespace' && d.kind !== 'Secret');
    const rendered = renderChart({ image: { ...values.image, tag: '1.3.0' } });
    for (const doc of plain) {
      const twin = rendered.find((r) => r.kind === doc.kind && r.metadata.name === doc.metadata.name);
      expect(twin, `${doc.kind} ${doc.metadata.name} in the chart`).toBeDefined();
      expect(twin!.metadata.labels).toEqual(doc.metadata.labels);
      expect(twin!.metadata.namespace).toBe(doc.metadata.namespace);
    }
    const [a, b] = [deployment(plain), deployment(rendered)];
    for (const field of ['selector', 'strategy', 'replicas', 'revisionHistoryLimit', 'progressDeadlineSeconds'])
      expect([field, b.spec[field]]).toEqual([field, a.spec[field]]);
    expect(b.spec.template.metadata).toEqual(a.spec.template.metadata);
    // Everything of the container but its image (a value) is the same.
    expect({ ...container(rendered), image: 'x' }).toEqual({ ...container(plain), image: 'x' });
    expect(b.spec.template.spec).toEqual({ ...a.spec.template.spec, containers: b.spec.template.spec.containers });
    expect(byKind(rendered, 'Service')[0]?.spec).toEqual(byKind(plain, 'Service')[0]?.spec);
    expect(byKind(rendered, 'PodDisruptionBudget')[0]?.spec).toEqual(byKind(plain, 'PodDisruptionBudget')[0]?.spec);
  });

  it('backs up the database in a pre-upgrade hook that fails the upgrade when the backup fails', () => {
    const job = byKind(renderChart(), 'Job')[0]!;
    expect(job.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-upgrade', 'helm.sh/hook-delete-policy': 'before-hook-creation' });
    expect(job.spec.backoffLimit).toBe(0);
    const c = job.spec.template.spec.containers[0];
    expect(c.command).toEqual(['node', '/app/dist/cli/tpctl.js', 'backup', 'create']);
    expect(c.env).toEqual(
      expect.arrayContaining([
        { name: 'ATLAS_LOG_DIR', value: '/backups' },
        { name: 'ATLAS_BACKUP_KEEP', value: '10' },
        { name: 'ATLAS_BACKUP_KEY_FILE', value: '/etc/atlas/keys/backup-keys' },
      ]),
    );
    expect(c.volumeMounts).toEqual([
      { name: 'backups', mountPath: '/backups' },
      { name: 'backup-keys', mountPath: '/etc/atlas/keys', readOnly: true },
    ]);
    expect(job.spec.template.spec.volumes).toEqual([
      { name: 'backups', persistentVolumeClaim: { claimName: 'atlasai-tp-backups' } },
      { name: 'backup-keys', secret: { secretName: 'atlasai-tp-backup-keys', defaultMode: 0o440 } },
    ]);
    expect(renderChart({ backup: { ...values.backup, enabled: false } }).map((d) => d.kind)).not.toContain('Job');
  });
});
