// Builds the UI into OUT_DIR (argv[2]) with content-hashed names, then writes a gzip and a
// brotli copy beside every file so the server sends them precompressed. Prints the totals
// over every file: what the size budget in src/http/admin.rs sums (at most 1 MiB compressed).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import zlib from 'node:zlib';
import { build } from 'vite';

const out = resolve(process.argv[2] ?? 'dist');
await build({ configFile: new URL('./vite.config.js', import.meta.url).pathname, build: { outDir: out, emptyOutDir: true } });

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (!/\.(gz|br)$/.test(entry.name)) yield path;
  }
}

let raw = 0;
let gzip = 0;
let br = 0;
for (const path of files(out)) {
  const body = readFileSync(path);
  const gz = zlib.gzipSync(body, { level: 9 });
  const brotli = zlib.brotliCompressSync(body, {
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length },
  });
  writeFileSync(`${path}.gz`, gz);
  writeFileSync(`${path}.br`, brotli);
  raw += body.length;
  gzip += gz.length;
  br += brotli.length;
}
console.log(`admin UI: ${raw} bytes, ${gzip} bytes with gzip, ${br} bytes with brotli (budget 1048576 each), in ${out}`);
