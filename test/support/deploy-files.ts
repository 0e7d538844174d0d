import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { appRoot } from '../../src/shared/app-root.js';
import { platformTool, type PlatformTool } from './platforms.js';
import { tempDir } from './temp.js';

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return -- manifests are untyped YAML, read field by field */
export type Doc = Record<string, any>;

/** The deployment files as Kubernetes and Helm read them: deploy/k8s and the chart. */
const k8sDir = path.join(appRoot, 'deploy', 'k8s');
export const chartDir = path.join(appRoot, 'deploy', 'helm', 'atlasai-tp');

const parse = (text: string): Doc[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as Doc | null)
    .filter((d): d is Doc => d !== null);

/** Every object of deploy/k8s and deploy/k8s/examples, with the file it is in. */
export function plainManifests(): { file: string; doc: Doc }[] {
  return ['', 'examples']
    .flatMap((sub) =>
      readdirSync(path.join(k8sDir, sub))
        .filter((n) => n.endsWith('.yaml'))
        .map((n) => path.join(sub, n)),
    )
    .flatMap((n) => parse(readFileSync(path.join(k8sDir, n), 'utf8')).map((doc) => ({ file: n, doc })));
}

export const byKind = (docs: Doc[], kind: string) => docs.filter((d) => d.kind === kind);
export const deployment = (docs: Doc[]) => byKind(docs, 'Deployment')[0]!;
export const container = (docs: Doc[]): Doc => deployment(docs).spec.template.spec.containers[0];

export const chartValues = (): Doc => parse(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'))[0]!;
export const chartMetadata = (): Doc => parse(readFileSync(path.join(chartDir, 'Chart.yaml'), 'utf8'))[0]!;

/** The chart as the real Helm renders it (`helm template`, hooks included) for release atlasai-tp in namespace atlasai, with `values` over its values.yaml. */
export function renderChart(values: Doc = {}, helm: PlatformTool = 'helm3'): Doc[] {
  const file = path.join(tempDir('atlas-values-'), 'values.yaml');
  writeFileSync(file, stringify(values));
  return parse(execFileSync(platformTool(helm), ['template', 'atlasai-tp', chartDir, '--namespace', 'atlasai', '--values', file], { encoding: 'utf8' }));
}
