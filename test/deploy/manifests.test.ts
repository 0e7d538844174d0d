import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { appRoot } from '../../src/shared/app-root.js';
import { readAppVersion } from '../../src/shared/version.js';
import { renderTemplate } from '../support/helm-template.js';
import { validateManifest } from '../support/k8s-schema.js';

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   manifests are untyped YAML, read field by field */
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const k8sDir = path.join(appRoot, 'deploy', 'k8s');
const chartDir = path.join(appRoot, 'deploy', 'helm', 'atlasai-tp');
const parse = (text: string): Doc[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
const manifests = ['', 'examples']
  .flatMap((sub) =>
    readdirSync(path.join(k8sDir, sub))
      .filter((n) => n.endsWith('.yaml'))
      .map((n) => path.join(sub, n)),
  )
  .flatMap((n) => parse(readFileSync(path.join(k8sDir, n), 'utf8')).map((doc) => ({ file: n, doc })));
const values = parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'))[0]!;
const chart = parse(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8'))[0]!;

function renderChart(overrides: Doc = {}): Doc[] {
  const context = {
    Values: { ...values, ...overrides },
    Chart: { AppVersion: String(chart.appVersion), Name: String(chart.name) },
    Release: { Name: 'atlasai-tp', Namespace: 'atlasai' },
  };
  return readdirSync(path.join(chartDir, 'templates'))
    .filter((n) => n.endsWith('.yaml'))
    .flatMap((n) => parse(renderTemplate(readFileSync(path.join(chartDir, 'templates', n), 'utf8'), context)));
}

const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
const deployment = (docs: Doc[]) => byKind(docs, 'Deployment')[0]!;
const container = (docs: Doc[]) => deployment(docs).spec.template.spec.containers[0];

describe('deploy/k8s', () => {
  it.each(manifests.map((m) => [`${m.file}: ${m.doc.kind} ${m.doc.metadata?.name}`, m.doc]))(
    '%s validates against the Kubernetes API schemas',
    (_name, doc) => {
      expect(validateManifest(doc)).toEqual([]);
    },
  );

  it('the validation is not vacuous: a misspelt field and a wrong type are caught', () => {
    const d = structuredClone(deployment(manifests.map((m) => m.doc)));
    d.spec.replicaz = 3;
    d.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    const errors = validateManifest(d);
    expect(errors.join('\n')).toMatch(/containerPort must be integer/);
    expect(errors).toContain('unknown field .spec.replicaz');
  });

  it('deploys atlasai-tp as the operator guide expects', () => {
    const docs = manifests.map((m) => m.doc);
    expect(byKind(docs, 'Namespace')[0]?.metadata.name).toBe('atlasai');
    const d = deployment(docs);
    expect(d.metadata).toMatchObject({
      name: 'atlasai-tp',
      namespace: 'atlasai',
      labels: { app: 'atlasai-tp' },
      annotations: { 'atlasai.io/version': '1.3.0', 'kubernetes.io/change-cause': expect.any(String) },
    });
    expect(d.spec.replicas).toBe(3);
    expect(d.spec.revisionHistoryLimit).toBeGreaterThanOrEqual(10);
    expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(d.spec.template.metadata.labels).toEqual({ app: 'atlasai-tp' });
    const c = container(docs);
    expect(c.readinessProbe.httpGet).toEqual({ path: '/api/health', port: 'http' });
    expect(c.livenessProbe).toBeDefined();
    expect(c.env).toContainEqual({ name: 'DB_URL', valueFrom: { secretKeyRef: { name: 'atlasai-tp-db', key: 'url' } } });
    // The server finishes in-flight work within 10 s of SIGTERM; the pod must be given that plus its preStop pause.
    expect(d.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(10 + c.lifecycle.preStop.sleep.seconds);
    expect(byKind(docs, 'Service')[0]?.spec.ports).toEqual([{ name: 'http', port: 3000, targetPort: 'http', protocol: 'TCP' }]);
    expect(byKind(docs, 'PodDisruptionBudget')[0]?.spec).toEqual({ minAvailable: 2, selector: { matchLabels: { app: 'atlasai-tp' } } });
  });
});

describe('deploy/helm/atlasai-tp', () => {
  const schema = JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as object;
  const ajv = new Ajv2020({ allErrors: true });
  const check = ajv.compile(schema);

  it("names the release this checkout builds: its appVersion is the version in the release's metadata", () => {
    expect(String(chart.appVersion)).toBe(readAppVersion());
  });

  it('ships values.yaml that satisfies its values.schema.json, which refuses bad values', () => {
    expect(check(values), JSON.stringify(check.errors)).toBe(true);
    expect(check({ ...values, image: { ...values.image, tag: 'latest' } })).toBe(false);
    expect(check({ ...values, revisionHistoryLimit: 2 })).toBe(false);
    expect(check({ ...values, replica: 3 })).toBe(false);
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
