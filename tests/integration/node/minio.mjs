// minio-js checks for clients.sh: putObject, getObject, statObject,
// listObjects and removeObjects through s3seal. partSize is set above the
// largest test file so that every putObject is a single PUT.
//
// Usage: node minio.mjs upload|delete LABEL BUCKET DATA_DIR
// Settings: PROXY_ENDPOINT (http://127.0.0.1:PORT), CLIENT_ACCESS_KEY,
// CLIENT_SECRET_KEY, REGION.
// Prints one "ok - ..." or "not ok - ..." line per check.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as Minio from "minio";

const [phase, label, bucket, dataDir] = process.argv.slice(2);
let failures = 0;

function report(ok, name, detail = "") {
  if (ok) {
    console.log(`ok - ${name}`);
  } else {
    failures += 1;
    console.log(`not ok - ${name}: ${detail}`);
  }
}

const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const endpoint = new URL(process.env.PROXY_ENDPOINT);

const mc = new Minio.Client({
  endPoint: endpoint.hostname,
  port: Number(endpoint.port),
  useSSL: endpoint.protocol === "https:",
  accessKey: process.env.CLIENT_ACCESS_KEY,
  secretKey: process.env.CLIENT_SECRET_KEY,
  region: process.env.REGION,
  pathStyle: true,
  partSize: 64 * 1024 * 1024,
});

const files = readdirSync(dataDir)
  .filter((f) => f.endsWith(".bin"))
  .sort((a, b) => statSync(join(dataDir, a)).size - statSync(join(dataDir, b)).size);

async function readAll(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

async function upload() {
  const expectedSizes = {};
  for (const name of files) {
    const data = readFileSync(join(dataDir, name));
    const key = `minio/${name}`;
    try {
      await mc.putObject(bucket, key, data, data.length);
      report(true, `${label}: ${key}: putObject`);
      expectedSizes[key] = data.length;
    } catch (err) {
      report(false, `${label}: ${key}: putObject`, `${err.code ?? err.name}: ${err.message}`);
      continue;
    }
    try {
      const stat = await mc.statObject(bucket, key);
      report(stat.size === data.length, `${label}: ${key}: statObject size is the plaintext size`,
        `expected ${data.length}, got ${stat.size}`);
    } catch (err) {
      report(false, `${label}: ${key}: statObject`, `${err.code ?? err.name}: ${err.message}`);
    }
    try {
      const body = await readAll(await mc.getObject(bucket, key));
      report(sha256(body) === sha256(data), `${label}: ${key}: getObject matches SHA-256`,
        `got ${body.length} bytes, expected ${data.length}`);
    } catch (err) {
      report(false, `${label}: ${key}: getObject`, `${err.code ?? err.name}: ${err.message}`);
    }
  }
  try {
    const objects = [];
    for await (const o of mc.listObjects(bucket, "minio/", true)) objects.push(o);
    const sizes = Object.fromEntries(objects.map((o) => [o.name, o.size]));
    const same = JSON.stringify(Object.entries(sizes).sort()) === JSON.stringify(Object.entries(expectedSizes).sort());
    report(same, `${label}: listObjects shows plaintext sizes`,
      `expected ${JSON.stringify(expectedSizes)}, got ${JSON.stringify(sizes)}`);
  } catch (err) {
    report(false, `${label}: listObjects`, `${err.code ?? err.name}: ${err.message}`);
  }
}

async function remove() {
  const keys = files.map((name) => `minio/${name}`);
  try {
    await mc.removeObjects(bucket, keys);
    report(true, `${label}: removeObjects`);
  } catch (err) {
    report(false, `${label}: removeObjects`, `${err.code ?? err.name}: ${err.message}`);
  }
}

if (phase === "upload") {
  await upload();
} else if (phase === "delete") {
  await remove();
} else {
  console.error(`unknown phase '${phase}'; use upload or delete`);
  process.exit(2);
}
process.exit(failures ? 1 : 0);
