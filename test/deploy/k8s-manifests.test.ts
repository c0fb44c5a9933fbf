import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { KEYS } from '../../src/config/schema.js';
import { runCli, startServer } from '../support/server.js';
import { checkWithServer, LISTEN_FLAGS, listenPorts } from './server-accepts.js';

/**
 * deploy/k8s (docs/deploy.md "Kubernetes"). No cluster here: the manifests are parsed and checked
 * against each other, against what `bridgehead serve` accepts (the real CLI), against nats-server's
 * own config check and kustomize's build, and against the Secrets docs/deploy.md tells operators to create.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const K8S = join(ROOT, 'deploy/k8s');
const DOCS = join(ROOT, 'docs/deploy.md');
const has = (cmd: string, ...args: string[]): boolean => spawnSync(cmd, args).status === 0;

interface Meta {
  name: string;
  labels?: Record<string, string>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec?: unknown;
  data?: Record<string, string>;
  [k: string]: unknown;
}
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: Array<{ name?: string; containerPort: number }>;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; secret?: { secretName: string }; configMap?: { name: string } }>;
  affinity?: { podAntiAffinity?: Record<string, Array<{ topologyKey?: string; podAffinityTerm?: { topologyKey: string } }>> };
}
interface Workload {
  replicas?: number;
  serviceName?: string;
  selector: { matchLabels: Record<string, string> };
  template: { metadata: Meta; spec: PodSpec };
}
interface ServiceSpec {
  type?: string;
  selector: Record<string, string>;
  ports: Array<{ name?: string; port: number; targetPort?: string | number }>;
}

/** Every object of every file, by file name. */
function load(): Map<string, K8sObject[]> {
  const out = new Map<string, K8sObject[]>();
  for (const file of readdirSync(K8S).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    const docs = parseAllDocuments(readFileSync(join(K8S, file), 'utf8'));
    const objects: K8sObject[] = [];
    for (const doc of Array.isArray(docs) ? docs : [docs]) {
      assert.deepEqual(doc.errors.map((e) => e.message), [], `${file}: YAML errors`);
      const value: unknown = doc.toJS();
      if (value !== null) objects.push(value as K8sObject);
    }
    out.set(file, objects);
  }
  return out;
}

const FILES = load();
const ALL = [...FILES.entries()].filter(([f]) => f !== 'kustomization.yaml').flatMap(([, objs]) => objs);
const one = (kind: string, name: string): K8sObject => {
  const found = ALL.filter((o) => o.kind === kind && o.metadata.name === name);
  assert.equal(found.length, 1, `one ${kind} ${name}`);
  return found[0]!;
};
const deployment = one('Deployment', 'bridgehead');
const bridgeheadSpec = deployment.spec as Workload;
const bridgehead = bridgeheadSpec.template.spec.containers[0]!;

/** The value after each flag in `args` (repeatable flags keep every value). */
function flagValues(args: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('--')) continue;
    const next = args[i + 1];
    const value = next !== undefined && !next.startsWith('--') ? next : '';
    out.set(a, [...(out.get(a) ?? []), value]);
  }
  return out;
}
const flags = flagValues(bridgehead.args ?? []);
const env = new Map((bridgehead.env ?? []).map((e) => [e.name, e]));

/** A container port named or numbered by `port`, or undefined. */
function containerPort(c: Container, port: string | number | undefined): number | undefined {
  return c.ports?.find((p) => (typeof port === 'number' ? p.containerPort === port : p.name === port))?.containerPort;
}

const labelsMatch = (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

test('every file under deploy/k8s parses into Kubernetes objects, and kustomization.yaml lists every other file', () => {
  assert.ok(ALL.length >= 8, `objects found: ${ALL.length}`);
  for (const [file, objects] of FILES) {
    assert.ok(objects.length > 0, `${file}: no object`);
    for (const o of objects) {
      assert.match(String(o.apiVersion), /^([a-z0-9.-]+\/)?v\d+(beta\d+|alpha\d+)?$/, `${file}: apiVersion`);
      assert.match(String(o.kind), /^[A-Z][A-Za-z]+$/, `${file}: kind`);
      if (o.kind === 'Kustomization') continue;
      assert.match(String(o.metadata?.name), /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${file}: ${o.kind} metadata.name`);
    }
  }
  const keys = ALL.map((o) => `${o.kind}/${o.metadata.name}`);
  assert.deepEqual(keys.filter((k, i) => keys.indexOf(k) !== i), [], 'no two objects of one kind share a name');
  const kustomization = FILES.get('kustomization.yaml')?.[0] as { resources?: string[]; images?: Array<{ name: string }> } | undefined;
  assert.ok(kustomization, 'kustomization.yaml');
  assert.deepEqual([...(kustomization.resources ?? [])].sort(), [...FILES.keys()].filter((f) => f !== 'kustomization.yaml').sort());
  assert.ok(kustomization.images?.some((i) => i.name === bridgehead.image), 'kustomization names the image the Deployment uses');
});

test('kubectl kustomize builds deploy/k8s into one namespace with the image set', { skip: has('kubectl', 'version', '--client') ? false : 'kubectl is not installed' }, () => {
  const r = spawnSync('kubectl', ['kustomize', K8S], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  const built = parseAllDocuments(r.stdout);
  const objects = (Array.isArray(built) ? built : [built]).map((d) => d.toJS() as K8sObject & { metadata: Meta & { namespace?: string } });
  assert.equal(objects.length, ALL.length);
  for (const o of objects) if (o.kind !== 'Namespace') assert.equal(o.metadata.namespace, 'bridgehead', `${o.kind}/${o.metadata.name}`);
  const image = objects.find((o) => o.kind === 'Deployment')?.spec as Workload;
  assert.notEqual(image.template.spec.containers[0]!.image, bridgehead.image, 'the images entry applies');
});

test("the Deployment's flags are ones `bridgehead serve` has and its BRIDGEHEAD_* variables ones the schema reads", async () => {
  assert.equal(bridgehead.command?.at(-1), 'bridgehead');
  assert.equal(bridgehead.args?.[0], 'serve');
  const help = await runCli(['serve', '--help']);
  assert.equal(help.code, 0, help.stderr);
  const known = new Set(help.stdout.match(/--[a-z0-9-]+/g));
  assert.ok(known.has('--store') && known.has('--nats'), 'serve --help lists the cluster flags');
  assert.deepEqual([...flags.keys()].filter((f) => !known.has(f)), [], 'flags serve does not have');
  const envNames = new Set(KEYS.map((k) => k.env));
  const unknown = [...env.keys()].filter((n) => n.startsWith('BRIDGEHEAD_') && !envNames.has(n));
  assert.deepEqual(unknown, [], 'BRIDGEHEAD_* variables the schema does not read');
  assert.deepEqual([...env.keys()].filter((n) => !n.startsWith('BRIDGEHEAD_')), ['NODE_OPTIONS']);
  // A cluster node: shared store, NATS, a per-pod name, and the token the same on every node.
  for (const n of ['BRIDGEHEAD_STORE', 'BRIDGEHEAD_NATS', 'BRIDGEHEAD_NODE_ID', 'BRIDGEHEAD_ADMIN_TOKEN']) assert.ok(env.has(n), n);
  assert.equal(env.get('BRIDGEHEAD_NODE_ID')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
  assert.ok(env.get('BRIDGEHEAD_STORE')?.valueFrom?.secretKeyRef, 'the store URL (with its password) comes from a Secret');
  assert.ok(env.get('BRIDGEHEAD_ADMIN_TOKEN')?.valueFrom?.secretKeyRef, 'the admin token comes from a Secret');
});

test("the server accepts the Deployment's settings (the real CLI validates them; nothing starts)", async () => {
  const values: Record<string, string> = {};
  for (const e of bridgehead.env ?? []) {
    if (!e.name.startsWith('BRIDGEHEAD_')) continue;
    if (e.value !== undefined) values[e.name] = e.value;
    else if (e.valueFrom?.fieldRef) values[e.name] = 'bridgehead-7d9c5b6f4-x2x7q';
    else if (e.name === 'BRIDGEHEAD_STORE') values[e.name] = 'postgres://bridgehead:secret@postgres:5432/bridgehead';
    else if (e.name === 'BRIDGEHEAD_ADMIN_TOKEN') values[e.name] = 'a-token-of-at-least-16-characters';
    else assert.fail(`no stand-in for ${e.name}`);
  }
  const verdict = await checkWithServer({ args: bridgehead.args ?? [], env: values });
  assert.equal(verdict.code, 2, verdict.stderr);
  assert.ok(verdict.poisonReported, verdict.stderr);
  assert.deepEqual(verdict.problems, []);
});

test('the listeners are the declared container ports; probes read /readyz and /healthz on the admin listener', () => {
  const listening = new Set<number>();
  for (const flag of LISTEN_FLAGS) for (const v of flags.get(flag) ?? []) for (const p of listenPorts(v, flag)) listening.add(p);
  const declared = new Set((bridgehead.ports ?? []).map((p) => p.containerPort));
  assert.deepEqual([...listening].sort(), [...declared].sort(), 'every listener declared, every declared port listened on');
  const [adminPort] = listenPorts(flags.get('--api-listen')?.[0] ?? '', '--api-listen');
  assert.equal(flags.get('--api-listen')?.[0]?.startsWith('127.'), false, 'the kubelet reaches the admin listener from outside the pod');
  const probe = (p: Probe | undefined, path: string, what: string): void => {
    assert.equal(p?.httpGet?.path, path, what);
    assert.equal(containerPort(bridgehead, p?.httpGet?.port), adminPort, `${what} on the admin listener`);
  };
  probe(bridgehead.readinessProbe, '/readyz', 'readiness');
  probe(bridgehead.livenessProbe, '/healthz', 'liveness');
  probe(bridgehead.startupProbe, '/healthz', 'startup');
});

test("the probes' paths answer 200 without a token on a running server's admin listener", async () => {
  const server = await startServer();
  try {
    for (const p of [bridgehead.readinessProbe, bridgehead.livenessProbe, bridgehead.startupProbe]) {
      const path = p?.httpGet?.path ?? '';
      const r = await fetch(`${server.api}${path}`, { signal: AbortSignal.timeout(5_000) });
      assert.equal(r.status, 200, `${path}: ${await r.text()}`);
    }
  } finally {
    await server.cleanup();
  }
});

test('the Services select the Bridgehead pods and put MQTT on 8883 and 443, the HTTP bridge and the API on 443, the admin API in-cluster', () => {
  const podLabels = bridgeheadSpec.template.metadata.labels;
  const byListener = new Map<number, string>();
  for (const [flag, what] of [['--mqtt-listen', 'mqtt'], ['--http-bridge-listen', 'http'], ['--api-tls-listen', 'api'], ['--api-listen', 'admin']] as const) {
    for (const v of flags.get(flag) ?? []) for (const p of listenPorts(v, flag)) byListener.set(p, what);
  }
  const exposed: string[] = [];
  for (const svc of ALL.filter((o) => o.kind === 'Service' && labelsMatch((o.spec as ServiceSpec).selector, podLabels))) {
    const spec = svc.spec as ServiceSpec;
    for (const port of spec.ports) {
      const target = containerPort(bridgehead, port.targetPort ?? port.port);
      assert.ok(target !== undefined, `${svc.metadata.name}:${port.port} targets a declared container port`);
      exposed.push(`${spec.type ?? 'ClusterIP'} ${port.port} ${byListener.get(target)}`);
    }
  }
  for (const want of ['LoadBalancer 8883 mqtt', 'LoadBalancer 443 mqtt', 'LoadBalancer 443 http', 'LoadBalancer 443 api', 'ClusterIP 8080 admin']) {
    assert.ok(exposed.includes(want), `${want} in ${JSON.stringify(exposed)}`);
  }
  assert.ok(!exposed.includes('LoadBalancer 8080 admin'), 'the plain-HTTP admin API stays inside the cluster');
  // Dependencies: their Services target their own pods' ports.
  for (const name of ['postgres', 'nats']) {
    const sts = one('StatefulSet', name).spec as Workload;
    const svc = one('Service', sts.serviceName ?? '').spec as ServiceSpec;
    assert.ok(labelsMatch(svc.selector, sts.template.metadata.labels), `${name}: the Service selects the StatefulSet's pods`);
    for (const p of svc.ports) assert.ok(containerPort(sts.template.spec.containers[0]!, p.targetPort ?? p.port) !== undefined, `${name}:${p.port}`);
  }
});

test('three replicas spread over machines, one down at a time (rolling update and PodDisruptionBudget)', () => {
  assert.equal(bridgeheadSpec.replicas, 3);
  assert.ok(labelsMatch(bridgeheadSpec.selector.matchLabels, bridgeheadSpec.template.metadata.labels));
  const strategy = (deployment.spec as { strategy?: { rollingUpdate?: { maxUnavailable?: number } } }).strategy;
  assert.equal(strategy?.rollingUpdate?.maxUnavailable, 0);
  const pdb = one('PodDisruptionBudget', 'bridgehead').spec as { maxUnavailable?: number; selector: { matchLabels: Record<string, string> } };
  assert.deepEqual(pdb.selector.matchLabels, bridgeheadSpec.selector.matchLabels);
  assert.equal(pdb.maxUnavailable, 1);
  const terms = Object.values(bridgeheadSpec.template.spec.affinity?.podAntiAffinity ?? {}).flat();
  assert.ok(terms.some((t) => (t.topologyKey ?? t.podAffinityTerm?.topologyKey) === 'kubernetes.io/hostname'), 'anti-affinity by machine');
});

test("the container's memory: requested, limited, and V8's heap cap below the limit", () => {
  const { resources } = bridgehead as Container & { resources?: { requests?: Record<string, string>; limits?: Record<string, string> } };
  const mib = (q: string | undefined): number => {
    const m = /^(\d+)(Mi|Gi)$/.exec(q ?? '');
    assert.ok(m, `a quantity in Mi or Gi: ${q}`);
    return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
  };
  assert.ok(resources?.requests?.cpu, 'a CPU request');
  const limit = mib(resources?.limits?.memory);
  assert.ok(mib(resources?.requests?.memory) <= limit);
  const heap = Number(/--max-old-space-size=(\d+)/.exec(env.get('NODE_OPTIONS')?.value ?? '')?.[1]);
  assert.ok(heap > 0 && heap <= limit * 0.8, `heap ${heap} MiB leaves room under the ${limit} MiB limit for buffers and native memory`);
});

test('the TLS files are the mounted kubernetes.io/tls Secret, and every Secret read is one docs/deploy.md creates', () => {
  const pod = bridgeheadSpec.template.spec;
  const tlsVolume = pod.volumes?.find((v) => v.secret !== undefined);
  const mount = bridgehead.volumeMounts?.find((m) => m.name === tlsVolume?.name);
  assert.ok(tlsVolume?.secret && mount, 'a Secret volume is mounted');
  assert.equal(flags.get('--tls-cert')?.[0], posix.join(mount.mountPath, 'tls.crt'));
  assert.equal(flags.get('--tls-key')?.[0], posix.join(mount.mountPath, 'tls.key'));
  const docs = readFileSync(DOCS, 'utf8');
  assert.match(docs, new RegExp(`kubectl[^\\n]* create secret tls ${tlsVolume.secret.secretName} `), 'docs create the TLS Secret');
  const refs = ALL.flatMap((o) => ((o.spec as Partial<Workload> | undefined)?.template?.spec.containers ?? []).flatMap((c) => c.env ?? []))
    .flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef] : []));
  assert.ok(refs.length >= 3);
  for (const { name, key } of refs) {
    assert.match(docs, new RegExp(`kubectl[^\\n]* create secret generic ${name} [^\\n]*--from-literal=${key}=`), `docs create Secret ${name} with key ${key}`);
  }
  // The URL the docs put in the store Secret reaches postgres.yaml's server, user and database.
  const store = /--from-literal=store-url=['"]?(postgres:\/\/[^\s'"]+)/.exec(docs)?.[1];
  assert.ok(store, 'docs give a store-url');
  const url = new URL(store);
  const pg = one('StatefulSet', 'postgres').spec as Workload;
  const pgEnv = new Map((pg.template.spec.containers[0]!.env ?? []).map((e) => [e.name, e.value]));
  assert.equal(url.hostname, pg.serviceName);
  assert.equal(Number(url.port), containerPort(pg.template.spec.containers[0]!, 'postgres'));
  assert.equal(url.username, pgEnv.get('POSTGRES_USER'));
  assert.equal(url.pathname, `/${pgEnv.get('POSTGRES_DB')}`);
});

test("nats.yaml: JetStream on, nats-server's own check accepts the config, and Bridgehead's NATS URLs name its pods", () => {
  const sts = one('StatefulSet', 'nats').spec as Workload;
  const nats = sts.template.spec.containers[0]!;
  const configMap = one('ConfigMap', sts.template.spec.volumes?.find((v) => v.configMap)?.configMap?.name ?? '');
  const conf = configMap.data?.['nats.conf'] ?? '';
  assert.match(conf, /^jetstream\s*\{/m);
  assert.match(nats.args?.join(' ') ?? '', /--config \/etc\/nats\/nats\.conf/);
  const clientPort = containerPort(nats, 'client');
  const pods = Array.from({ length: sts.replicas ?? 0 }, (_, i) => `nats-${i}.${sts.serviceName}`);
  const urls = (env.get('BRIDGEHEAD_NATS')?.value ?? '').split(',');
  assert.deepEqual(urls, pods.map((p) => `nats://${p}:${clientPort}`), 'one URL per NATS pod');
  const routes = conf.match(/nats:\/\/[^\s,\]]+/g) ?? [];
  assert.deepEqual(routes, pods.map((p) => `nats://${p}:${containerPort(nats, 'cluster')}`), 'routes to every pod');
  assert.ok(Number(env.get('BRIDGEHEAD_JETSTREAM_REPLICAS')?.value) <= (sts.replicas ?? 0), 'stream replicas fit the servers');
  if (!has('sh', '-c', 'command -v nats-server || test -x /usr/sbin/nats-server')) return;
  const dir = mkdtempSync(join(tmpdir(), 'bridgehead-nats-conf-'));
  try {
    writeFileSync(join(dir, 'nats.conf'), conf);
    const bin = spawnSync('sh', ['-c', 'command -v nats-server || echo /usr/sbin/nats-server'], { encoding: 'utf8' }).stdout.trim();
    const r = spawnSync(bin, ['-t', '-c', join(dir, 'nats.conf')], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, POD_NAME: 'nats-0' } });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
