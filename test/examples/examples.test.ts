// Owns: tests of examples/ — each example's prescient.yaml passes config validation, and its compose file or Kubernetes manifest mounts it where the image looks and probes the port it configures.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../config/loadConfig.js';

const examples = resolve(dirname(fileURLToPath(import.meta.url)), '../../examples');
/** where the image's CMD and HEALTHCHECK look for the config (Dockerfile: --config-if-exists) */
const IMAGE_CONFIG = '/etc/prescient/prescient.yaml';

function yamlFile(path: string): any {
  return parseYaml(readFileSync(path, 'utf8'));
}

for (const name of ['compose', 'kubernetes']) {
  t.test(`examples/${name}/prescient.yaml passes config validation`, async (t) => {
    const config = loadConfig(join(examples, name, 'prescient.yaml'));
    t.equal(config.shards.length, 2, 'two shards');
    t.equal(config.http.enabled, true, 'the HTTP listener is on');
    t.equal(config.http.host, '0.0.0.0', 'the HTTP listener is reachable from outside the container (probes, published port)');
  });
}

t.test('examples/compose: Prescient runs the mounted config, its catalog on the data volume, and depends on the shards', async (t) => {
  const compose = yamlFile(join(examples, 'compose', 'compose.yaml'));
  const config = loadConfig(join(examples, 'compose', 'prescient.yaml'));
  const prescient = compose.services.prescient;
  t.ok(prescient.volumes.some((v: string) => v.startsWith(`./prescient.yaml:${IMAGE_CONFIG}`)), 'prescient.yaml is mounted where the image looks');
  const dataMount = prescient.volumes.map((v: string) => v.split(':')[1]).find((p: string) => p === '/var/lib/prescient');
  t.ok(dataMount && config.catalog.path?.startsWith(dataMount + '/'), 'the catalog file is on the data volume, not the read-only config mount', { catalog: config.catalog });
  const published = prescient.ports.map((p: string) => Number(p.split(':').pop()));
  t.ok(published.includes(config.listen.port) && published.includes(config.http.port), 'the client and HTTP ports are published', { published });
  const shardHosts = config.shards.map((s) => s.host).sort();
  t.same(shardHosts, ['shard0', 'shard1'], 'the shards are the compose services');
  for (const h of shardHosts) t.ok(compose.services[h]?.image, `service ${h} exists`);
  t.same(Object.keys(prescient.depends_on).sort(), shardHosts, 'Prescient waits for both shards');
  t.equal(compose.services.app.environment.PGHOST, 'prescient', 'the app connects through Prescient');
  t.equal(compose.services.app.environment.PGPASSWORD, config.users.find((u) => u.name === compose.services.app.environment.PGUSER)?.password, 'the app logs in as a configured user');
});

t.test('examples/kubernetes: the ConfigMap is mounted at /etc/prescient and the probes ask the configured HTTP port', async (t) => {
  const kustomization = yamlFile(join(examples, 'kubernetes', 'kustomization.yaml'));
  const deployment = yamlFile(join(examples, 'kubernetes', 'deployment.yaml'));
  const config = loadConfig(join(examples, 'kubernetes', 'prescient.yaml'));
  const generator = kustomization.configMapGenerator[0];
  t.same(generator.files, ['prescient.yaml'], 'the ConfigMap holds prescient.yaml');
  t.same(kustomization.resources, ['deployment.yaml'], 'the Deployment is the resource');
  const pod = deployment.spec.template.spec;
  const sidecar = pod.containers.find((c: any) => c.name === 'prescient');
  const configVolume = pod.volumes.find((v: any) => v.configMap?.name === generator.name);
  t.ok(configVolume, 'a volume from the generated ConfigMap');
  t.ok(sidecar.volumeMounts.some((m: any) => m.name === configVolume.name && m.mountPath === dirname(IMAGE_CONFIG)), 'mounted at /etc/prescient');
  const httpPort = sidecar.ports.find((p: any) => p.name === 'http');
  t.equal(httpPort.containerPort, config.http.port, 'the http port is the config http.port');
  t.same(
    ['livenessProbe', 'readinessProbe', 'startupProbe'].map((k) => [k, sidecar[k].httpGet.path, sidecar[k].httpGet.port]),
    [['livenessProbe', '/healthz', 'http'], ['readinessProbe', '/readyz', 'http'], ['startupProbe', '/healthz', 'http']],
    'probes: /healthz and /readyz on the http port',
  );
  const app = pod.containers.find((c: any) => c.name === 'app');
  const env = Object.fromEntries(app.env.map((e: any) => [e.name, e.value]));
  t.equal(Number(env.PGPORT), config.listen.port, 'the app connects to the sidecar port');
  t.ok(config.catalog.url, 'the sidecars share a Postgres catalog');
});
