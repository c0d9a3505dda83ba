// Validates the Kubernetes manifests against the OpenAPI schemas of the Kubernetes API
// (kubernetes-models) and of the Prometheus Operator CRDs (@kubernetes-models/prometheus-operator).
//
//   node tests/e2e/k8s-schema/validate.mjs deploy/kubernetes
//
// Every resource of kustomization.yaml and the Secret template is checked; then a broken copy
// of the Deployment and of the ServiceMonitor must be rejected, so a validator that accepts
// anything cannot pass.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, parse } from "yaml";

function modulePath(apiVersion) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}`;
  }
  return `kubernetes-models/${apiVersion}`;  // "v1" (core) or "<group>/<version>"
}

async function validate(object) {
  const { apiVersion, kind } = object;
  let module;
  try {
    module = await import(modulePath(apiVersion));
  } catch (error) {
    throw new Error(`no schema for apiVersion ${apiVersion}: ${error.message}`);
  }
  const Model = module[kind];
  if (typeof Model !== "function") throw new Error(`no schema for ${apiVersion} ${kind}`);
  new Model(object).validate();
}

const dir = process.argv[2] ?? "deploy/kubernetes";
const kustomization = parse(readFileSync(join(dir, "kustomization.yaml"), "utf8"));
const files = [...kustomization.resources, "secret.template.yaml"];
const objects = [];
let failed = 0;
for (const file of files) {
  for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    const object = doc.toJS();
    if (!object) continue;
    objects.push(object);
    try {
      await validate(object);
      console.log(`ok: ${file}: ${object.apiVersion} ${object.kind} ${object.metadata?.name}`);
    } catch (error) {
      failed++;
      console.error(`FAIL: ${file}: ${object.kind} ${object.metadata?.name}: ${error.message}`);
    }
  }
}

// The validator must reject what the API server would reject.
const broken = [
  ["Deployment with replicas as a word", "Deployment", (o) => { o.spec.replicas = "three"; }],
  ["ServiceMonitor endpoint with a numeric interval", "ServiceMonitor", (o) => { o.spec.endpoints[0].interval = 15; }],
];
for (const [what, kind, breakIt] of broken) {
  const original = objects.find((o) => o.kind === kind);
  if (!original) {
    failed++;
    console.error(`FAIL: no ${kind} among the manifests`);
    continue;
  }
  const copy = structuredClone(original);
  breakIt(copy);
  try {
    await validate(copy);
    failed++;
    console.error(`FAIL: the schema check accepted a ${what}`);
  } catch {
    console.log(`ok: rejected a ${what}`);
  }
}
if (failed) process.exit(1);
console.log(`${objects.length} manifests valid against the Kubernetes and Prometheus Operator schemas`);
