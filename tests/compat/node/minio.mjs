// minio-js workflow for tests/compat/minio-js.sh: putObject with a Buffer
// and with a stream, a 20 MiB stream uploaded multipart in 5 MiB parts,
// statObject, getObject, getPartialObject (ranged GET), listObjects and
// removeObjects through s3seal.
//
// Usage: node minio.mjs upload|delete LABEL BUCKET PREFIX DATA_DIR
// Settings: PROXY_ENDPOINT (http://127.0.0.1:PORT), CLIENT_ACCESS_KEY,
// CLIENT_SECRET_KEY, REGION.
// Prints one "ok - ..." or "not ok - ..." line per check.
import { createHash } from "node:crypto";
import { createReadStream, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as Minio from "minio";

const [phase, label, bucket, prefix, dataDir] = process.argv.slice(2);
let failures = 0;
const PART_SIZE = 5 * 1024 * 1024;

function report(ok, name, detail = "") {
  if (ok) {
    console.log(`ok - ${name}`);
  } else {
    failures += 1;
    console.log(`not ok - ${name}: ${detail}`);
  }
}

const sha256 = (data) => createHash("sha256").update(data).digest("hex");
const describe = (err) => `${err.code ?? err.name}: ${err.message}`;
const endpoint = new URL(process.env.PROXY_ENDPOINT);

// minio-js uploads a body above partSize as a multipart upload; 5 MiB is the
// smallest part size S3 accepts.
const mc = new Minio.Client({
  endPoint: endpoint.hostname,
  port: Number(endpoint.port),
  useSSL: endpoint.protocol === "https:",
  accessKey: process.env.CLIENT_ACCESS_KEY,
  secretKey: process.env.CLIENT_SECRET_KEY,
  region: process.env.REGION,
  pathStyle: true,
  partSize: PART_SIZE,
});

async function readAll(stream) {
  const parts = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

async function putAndCheck(key, kind, data, makeBody, expectedSizes) {
  try {
    await mc.putObject(bucket, key, makeBody(), data.length);
    report(true, `${label}: ${key}: putObject with ${kind}`);
    expectedSizes[key] = data.length;
  } catch (err) {
    report(false, `${label}: ${key}: putObject with ${kind}`, describe(err));
    return false;
  }
  try {
    const stat = await mc.statObject(bucket, key);
    report(stat.size === data.length, `${label}: ${key}: statObject size is the plaintext size`,
      `expected ${data.length}, got ${stat.size}`);
  } catch (err) {
    report(false, `${label}: ${key}: statObject`, describe(err));
  }
  try {
    const body = await readAll(await mc.getObject(bucket, key));
    report(sha256(body) === sha256(data), `${label}: ${key}: getObject matches SHA-256`,
      `got ${body.length} bytes, expected ${data.length}`);
  } catch (err) {
    report(false, `${label}: ${key}: getObject`, describe(err));
  }
  return true;
}

async function checkRanges(key, data) {
  const ranges = [[0, 1], [65530, 106], [PART_SIZE - 7, 6 * 1024 * 1024], [data.length - 10, 10]];
  for (const [offset, length] of ranges) {
    try {
      const body = await readAll(await mc.getPartialObject(bucket, key, offset, length));
      report(body.equals(data.subarray(offset, offset + length)),
        `${label}: ${key}: getPartialObject offset ${offset} length ${length}`,
        `got ${body.length} bytes, expected ${length}`);
    } catch (err) {
      report(false, `${label}: ${key}: getPartialObject offset ${offset} length ${length}`, describe(err));
    }
  }
}

async function upload() {
  const expectedSizes = {};
  const names = readdirSync(dataDir).filter((f) => f.startsWith("size-")).sort();
  for (const name of names) {
    const path = join(dataDir, name);
    const data = readFileSync(path);
    await putAndCheck(`${prefix}/buffer-${name}`, "Buffer body", data, () => data, expectedSizes);
    await putAndCheck(`${prefix}/stream-${name}`, "stream body", data, () => createReadStream(path), expectedSizes);
  }
  const path = join(dataDir, "multipart.bin");
  const data = readFileSync(path);
  const key = `${prefix}/multipart.bin`;
  if (await putAndCheck(key, "stream body in 5 MiB parts", data, () => createReadStream(path), expectedSizes)) {
    await checkRanges(key, data);
  }
  try {
    const objects = [];
    for await (const o of mc.listObjects(bucket, `${prefix}/`, true)) objects.push(o);
    const sizes = Object.fromEntries(objects.map((o) => [o.name, o.size]));
    const same = JSON.stringify(Object.entries(sizes).sort()) === JSON.stringify(Object.entries(expectedSizes).sort());
    report(same, `${label}: listObjects shows plaintext sizes`,
      `expected ${JSON.stringify(expectedSizes)}, got ${JSON.stringify(sizes)}`);
  } catch (err) {
    report(false, `${label}: listObjects`, describe(err));
  }
}

async function remove() {
  try {
    const keys = [];
    for await (const o of mc.listObjects(bucket, `${prefix}/`, true)) keys.push(o.name);
    await mc.removeObjects(bucket, keys);
    report(keys.length > 0, `${label}: removeObjects of ${keys.length} keys`, "no keys listed");
  } catch (err) {
    report(false, `${label}: removeObjects`, describe(err));
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
