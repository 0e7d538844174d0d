import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { readAppVersion } from '../../src/shared/version.js';
import { validateManifest } from '../support/k8s-schema.js';
import { byKind, container, deployment, chartDir, chartMetadata, chartValues, plainManifests } from '../support/deploy-files.js';

/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-argument --
   manifests are untyped YAML, read field by field */

const values = chartValues();
const chart = chartMetadata();
const manifests = plainManifests();

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
});
