import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Pod } from 'kubernetes-models/v1/Pod';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';

/**
 * Validates a manifest against the Kubernetes API: the JSON schemas of kubernetes-models
 * (generated from the Kubernetes OpenAPI: types, required fields, formats), and, since those
 * let unknown fields pass, the official client's models (@kubernetes/client-node), whose
 * serializer keeps only fields the API defines: anything it drops is a misspelt or unknown field.
 */
const MODELS: Record<string, { model: new (data: never) => { validate(): void }; type: string }> = {
  'v1/Namespace': { model: Namespace, type: 'V1Namespace' },
  'v1/Secret': { model: Secret, type: 'V1Secret' },
  'v1/Service': { model: Service, type: 'V1Service' },
  'v1/PersistentVolumeClaim': { model: PersistentVolumeClaim, type: 'V1PersistentVolumeClaim' },
  'v1/Pod': { model: Pod, type: 'V1Pod' },
  'apps/v1/Deployment': { model: Deployment, type: 'V1Deployment' },
  'apps/v1/ReplicaSet': { model: ReplicaSet, type: 'V1ReplicaSet' },
  'batch/v1/Job': { model: Job, type: 'V1Job' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, type: 'V1PodDisruptionBudget' },
};

function unknownFields(original: unknown, kept: unknown, path: string): string[] {
  if (Array.isArray(original)) return original.flatMap((item, i) => unknownFields(item, (kept as unknown[] | undefined)?.[i], `${path}[${i}]`));
  if (!original || typeof original !== 'object') return [];
  const keptObject = (kept ?? {}) as Record<string, unknown>;
  return Object.entries(original as Record<string, unknown>).flatMap(([key, value]) =>
    key in keptObject ? unknownFields(value, keptObject[key], `${path}.${key}`) : [`${path}.${key}`],
  );
}

export function validateManifest(doc: Record<string, unknown>): string[] {
  const key = `${String(doc.apiVersion)}/${String(doc.kind)}`;
  const entry = MODELS[key];
  if (!entry) return [`no schema for ${key}`];
  const errors: string[] = [];
  try {
    new entry.model(doc as never).validate();
  } catch (err) {
    errors.push((err as Error).message);
  }
  const kept: unknown = ObjectSerializer.serialize(doc, entry.type, '');
  for (const field of unknownFields(doc, kept, '')) errors.push(`unknown field ${field}`);
  return errors;
}
