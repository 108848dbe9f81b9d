// AWS SDK for JavaScript v3 checks for clients.sh, with the SDK's default
// checksum settings: a Buffer body goes up with an x-amz-checksum-crc32
// header, a stream body as HTTP chunked + aws-chunked with a CRC32 trailer,
// and GetObject sends x-amz-checksum-mode: ENABLED.
//
// Usage: node sdkv3.mjs upload|delete LABEL BUCKET DATA_DIR
// Settings: PROXY_ENDPOINT, CLIENT_ACCESS_KEY, CLIENT_SECRET_KEY, REGION.
// Prints one "ok - ..." or "not ok - ..." line per check.
import { createHash } from "node:crypto";
import { createReadStream, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";

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

const s3 = new S3Client({
  endpoint: process.env.PROXY_ENDPOINT,
  region: process.env.REGION,
  forcePathStyle: true,
  maxAttempts: 1,
  credentials: {
    accessKeyId: process.env.CLIENT_ACCESS_KEY,
    secretAccessKey: process.env.CLIENT_SECRET_KEY,
  },
});

const files = readdirSync(dataDir)
  .filter((f) => f.endsWith(".bin"))
  .sort((a, b) => statSync(join(dataDir, a)).size - statSync(join(dataDir, b)).size);
const keysOf = (name) => [`sdkv3/buffer-${name}`, `sdkv3/stream-${name}`];

async function upload() {
  const expectedSizes = {};
  for (const name of files) {
    const path = join(dataDir, name);
    const data = readFileSync(path);
    const [bufferKey, streamKey] = keysOf(name);
    const bodies = [
      [bufferKey, "Buffer body", () => data],
      [streamKey, "stream body", () => createReadStream(path)],
    ];
    for (const [key, kind, makeBody] of bodies) {
      try {
        const put = await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: makeBody(), ContentLength: data.length }),
        );
        report(true, `${label}: ${key}: PutObject with ${kind}`);
        report(put.ChecksumCRC32 !== undefined, `${label}: ${key}: PutObject returns ChecksumCRC32`,
          `response has no ChecksumCRC32`);
        expectedSizes[key] = data.length;
      } catch (err) {
        report(false, `${label}: ${key}: PutObject with ${kind}`, `${err.name}: ${err.message}`);
        continue;
      }
      try {
        const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const body = Buffer.from(await got.Body.transformToByteArray());
        report(sha256(body) === sha256(data), `${label}: ${key}: GetObject matches SHA-256`,
          `got ${body.length} bytes, expected ${data.length}`);
      } catch (err) {
        report(false, `${label}: ${key}: GetObject`, `${err.name}: ${err.message}`);
      }
    }
  }
  try {
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "sdkv3/" }));
    const sizes = Object.fromEntries((listed.Contents ?? []).map((o) => [o.Key, o.Size]));
    const same = JSON.stringify(Object.entries(sizes).sort()) === JSON.stringify(Object.entries(expectedSizes).sort());
    report(same, `${label}: ListObjectsV2 shows plaintext sizes`,
      `expected ${JSON.stringify(expectedSizes)}, got ${JSON.stringify(sizes)}`);
  } catch (err) {
    report(false, `${label}: ListObjectsV2`, `${err.name}: ${err.message}`);
  }
}

async function remove() {
  // The SDK sends DeleteObjects with x-amz-checksum-crc32 and no Content-MD5.
  const keys = files.flatMap(keysOf);
  try {
    const out = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
    const errors = out.Errors ?? [];
    report(errors.length === 0 && (out.Deleted ?? []).length === keys.length,
      `${label}: DeleteObjects (CRC32, no Content-MD5)`,
      `deleted ${(out.Deleted ?? []).length} of ${keys.length}, errors ${JSON.stringify(errors)}`);
  } catch (err) {
    report(false, `${label}: DeleteObjects (CRC32, no Content-MD5)`, `${err.name}: ${err.message}`);
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
