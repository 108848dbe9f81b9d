// AWS SDK for JavaScript v3 workflow for tests/compat/sdk-js-v3.sh, with the
// SDK's default checksum settings: a Buffer body goes up with an
// x-amz-checksum-crc32 header, a stream body as HTTP chunked + aws-chunked
// with a CRC32 trailer. @aws-sdk/lib-storage uploads multipart.bin in its
// default 5 MiB parts. GetObject with and without Range, ListObjectsV2 and
// DeleteObjects follow.
//
// Usage: node sdkv3.mjs upload|delete LABEL BUCKET PREFIX DATA_DIR
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
import { Upload } from "@aws-sdk/lib-storage";

const [phase, label, bucket, prefix, dataDir] = process.argv.slice(2);
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
const describe = (err) => `${err.name}: ${err.message}`;

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

async function getBytes(key, range) {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key, Range: range }));
  return Buffer.from(await got.Body.transformToByteArray());
}

async function checkGet(key, data) {
  try {
    const body = await getBytes(key);
    report(sha256(body) === sha256(data), `${label}: ${key}: GetObject matches SHA-256`,
      `got ${body.length} bytes, expected ${data.length}`);
  } catch (err) {
    report(false, `${label}: ${key}: GetObject`, describe(err));
  }
}

// PutObject of every small file, once with a Buffer and once with a stream.
async function putSmallFiles(expectedSizes) {
  const names = readdirSync(dataDir).filter((f) => f.startsWith("size-")).sort();
  for (const name of names) {
    const path = join(dataDir, name);
    const data = readFileSync(path);
    const bodies = [
      [`${prefix}/buffer-${name}`, "Buffer body", () => data],
      [`${prefix}/stream-${name}`, "stream body", () => createReadStream(path)],
    ];
    for (const [key, kind, makeBody] of bodies) {
      try {
        const put = await s3.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: makeBody(), ContentLength: data.length }),
        );
        report(true, `${label}: ${key}: PutObject with ${kind}`);
        report(put.ChecksumCRC32 !== undefined, `${label}: ${key}: PutObject returns ChecksumCRC32`,
          "response has no ChecksumCRC32");
        expectedSizes[key] = data.length;
      } catch (err) {
        report(false, `${label}: ${key}: PutObject with ${kind}`, describe(err));
        continue;
      }
      await checkGet(key, data);
    }
  }
}

// lib-storage Upload of a stream in its default 5 MiB parts, then ranged GETs.
async function multipartUpload(expectedSizes) {
  const path = join(dataDir, "multipart.bin");
  const data = readFileSync(path);
  const key = `${prefix}/multipart.bin`;
  try {
    const upload = new Upload({ client: s3, params: { Bucket: bucket, Key: key, Body: createReadStream(path) } });
    let parts = 0;
    upload.on("httpUploadProgress", (progress) => {
      parts = Math.max(parts, progress.part ?? 0);
    });
    await upload.done();
    report(true, `${label}: ${key}: lib-storage Upload of ${data.length} bytes`);
    const expectedParts = Math.ceil(data.length / (5 * 1024 * 1024));
    report(parts === expectedParts, `${label}: ${key}: lib-storage sent ${expectedParts} parts`, `sent ${parts}`);
    expectedSizes[key] = data.length;
  } catch (err) {
    report(false, `${label}: ${key}: lib-storage Upload`, describe(err));
    return;
  }
  await checkGet(key, data);
  const ranges = [[0, 0], [65530, 65635], [5 * 1024 * 1024 - 7, 11 * 1024 * 1024], [data.length - 10, data.length - 1]];
  for (const [first, last] of ranges) {
    try {
      const body = await getBytes(key, `bytes=${first}-${last}`);
      report(body.equals(data.subarray(first, last + 1)), `${label}: ${key}: GetObject Range bytes=${first}-${last}`,
        `got ${body.length} bytes, expected ${last - first + 1}`);
    } catch (err) {
      report(false, `${label}: ${key}: GetObject Range bytes=${first}-${last}`, describe(err));
    }
  }
}

async function listedSizes() {
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/` }));
  return Object.fromEntries((listed.Contents ?? []).map((o) => [o.Key, o.Size]));
}

async function upload() {
  const expectedSizes = {};
  await putSmallFiles(expectedSizes);
  await multipartUpload(expectedSizes);
  try {
    const sizes = await listedSizes();
    const same = JSON.stringify(Object.entries(sizes).sort()) === JSON.stringify(Object.entries(expectedSizes).sort());
    report(same, `${label}: ListObjectsV2 shows plaintext sizes`,
      `expected ${JSON.stringify(expectedSizes)}, got ${JSON.stringify(sizes)}`);
  } catch (err) {
    report(false, `${label}: ListObjectsV2`, describe(err));
  }
}

async function remove() {
  // The SDK sends DeleteObjects with x-amz-checksum-crc32 and no Content-MD5.
  try {
    const keys = Object.keys(await listedSizes());
    const out = await s3.send(
      new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.map((Key) => ({ Key })) } }),
    );
    const errors = out.Errors ?? [];
    report(keys.length > 0 && errors.length === 0 && (out.Deleted ?? []).length === keys.length,
      `${label}: DeleteObjects (CRC32, no Content-MD5)`,
      `deleted ${(out.Deleted ?? []).length} of ${keys.length}, errors ${JSON.stringify(errors)}`);
  } catch (err) {
    report(false, `${label}: DeleteObjects (CRC32, no Content-MD5)`, describe(err));
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
