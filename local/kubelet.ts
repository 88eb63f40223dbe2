/**
 * What the kubelet makes of a pod template's container: its environment (values, the pod name, Secret keys) and its
 * ConfigMap and Secret volumes (the items, or every key, with their modes). Shared by the demo's process pods
 * (local/demo/stack.ts) and the container pods (local/containers/pod.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";

/** The data of a ConfigMap or Secret by name; undefined when it does not exist. */
export type DataLookup = (name: string) => Record<string, string> | undefined;

/** The container's environment from the manifest, in order; a value it cannot resolve is an error naming it. */
export function resolveEnv(container: any, podName: string, secrets: DataLookup): Array<[string, string]> {
  return (container.env ?? []).map((e: any): [string, string] => {
    const from = e.valueFrom;
    const value =
      e.value ??
      (from?.fieldRef?.fieldPath === "metadata.name"
        ? podName
        : from?.secretKeyRef
          ? secrets(from.secretKeyRef.name)?.[from.secretKeyRef.key]
          : undefined);
    if (value === undefined) throw new Error(`pod ${podName}: env ${e.name} of ${container.name} cannot be resolved`);
    return [e.name, String(value)];
  });
}

/**
 * Writes a ConfigMap or Secret volume's files into `dir` (each file passed to `onFile`, e.g. to set its owner);
 * false when the volume is neither. A missing object or key fails as the kubelet would, unless the volume is optional.
 */
export function projectVolume(
  volume: any,
  dir: string,
  podName: string,
  data: { configMaps: DataLookup; secrets: DataLookup },
  onFile?: (file: string) => void,
): boolean {
  const source = volume?.configMap ?? volume?.secret;
  if (!source) return false;
  const [kind, name] = volume.configMap ? ["ConfigMap", source.name] : ["Secret", source.secretName];
  const values = volume.configMap ? data.configMaps(name) : data.secrets(name);
  if (!values && !source.optional)
    throw new Error(`pod ${podName}: ${kind} ${name} does not exist (the kubelet would wait)`);
  const items: Array<{ key: string; path: string; mode?: number }> =
    source.items ?? Object.keys(values ?? {}).map((key) => ({ key, path: key }));
  for (const item of items) {
    if (values?.[item.key] === undefined) {
      if (source.optional) continue;
      throw new Error(`pod ${podName}: ${kind} ${name} has no key ${item.key} (the kubelet would not start the pod)`);
    }
    const file = path.join(dir, item.path);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, values[item.key]);
    fs.chmodSync(file, item.mode ?? source.defaultMode ?? 0o644);
    onFile?.(file);
  }
  return true;
}
