// Packages the client for the host: `node dist.mjs BINDGEN_DIR DIST_DIR BINARYEN_BIN`.
//
// BINDGEN_DIR is `wasm-bindgen --target web` output for the crate. This
//  1. keeps only the crate's own exports and wasm-bindgen's (photon-rs marks
//     every one of its functions #[wasm_bindgen], and a cdylib exports its
//     dependencies' exports: ~190 of them, two thirds of the module) with
//     binaryen's wasm-metadce, then optimises for size with wasm-opt -Oz;
//  2. names each file after a hash of its content (the first 8 hex digits
//     of its SHA-256): the wasm, the JS glue (rewritten to load the hashed
//     wasm) and the page modules tryon.js and overlay.js (rewritten to
//     import the hashed glue);
//  3. writes DIST_DIR/manifest.json mapping the logical names to those.
// DIST_DIR is emptied first.

import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [bindgenDir, distDir, binaryen] = process.argv.slice(2);
if (!binaryen) {
  console.error('usage: node dist.mjs BINDGEN_DIR DIST_DIR BINARYEN_BIN');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const NAME = 'studio_edge_client';
const GLUE = `${NAME}.js`;
const WASM = `${NAME}_bg.wasm`;
const MODULES = ['tryon.js', 'overlay.js'];
// The crate's exports (src/bindings.rs).
const OWN = ['match_shades', 'find_skin', 'try_on', 'compose_overlay', 'resize_rgba', 'srgb_hex'];
// What the wasm engine shares with the JS glue; Rust and wasm-bindgen
// builds of this target all use these features.
const FEATURES = [
  '--enable-bulk-memory', '--enable-mutable-globals', '--enable-nontrapping-float-to-int',
  '--enable-sign-ext', '--enable-reference-types', '--enable-multivalue',
];

function trim(wasmPath, outPath) {
  const exports = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(wasmPath)))
    .map((e) => e.name);
  for (const name of OWN) {
    if (!exports.includes(name)) throw new Error(`${wasmPath} does not export ${name}`);
  }
  const kept = exports.filter((n) => n === 'memory' || n.startsWith('__wbindgen_') || OWN.includes(n));
  const graph = join(dirname(outPath), 'metadce-graph.json');
  writeFileSync(graph, JSON.stringify(kept.map((n) => ({ name: n, export: n, root: true }))));
  const trimmed = `${outPath}.trimmed`;
  execFileSync(join(binaryen, 'wasm-metadce'), ['--graph-file', graph, wasmPath, '-o', trimmed, ...FEATURES], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync(join(binaryen, 'wasm-opt'), ['-Oz', ...FEATURES, trimmed, '-o', outPath], { stdio: 'inherit' });
  rmSync(graph);
  rmSync(trimmed);
}

function hashed(logical, bytes) {
  const hash = createHash('sha256').update(bytes).digest('hex').slice(0, 8);
  const dot = logical.lastIndexOf('.');
  return `${logical.slice(0, dot)}.${hash}${logical.slice(dot)}`;
}

function replaceOnce(text, from, to, what) {
  const count = text.split(from).length - 1;
  if (count !== 1) throw new Error(`${what}: expected one ${JSON.stringify(from)}, found ${count}`);
  return text.replace(from, to);
}

rmSync(distDir, { recursive: true, force: true });
mkdirSync(distDir, { recursive: true });
const manifest = {};
function emit(logical, bytes) {
  const name = hashed(logical, bytes);
  writeFileSync(join(distDir, name), bytes);
  manifest[logical] = name;
  return name;
}

const optimised = join(distDir, WASM);
trim(join(bindgenDir, WASM), optimised);
const wasmName = emit(WASM, readFileSync(optimised));
rmSync(optimised);

const glue = replaceOnce(readFileSync(join(bindgenDir, GLUE), 'utf8'),
  `new URL('${WASM}', import.meta.url)`, `new URL('${wasmName}', import.meta.url)`, GLUE);
const glueName = emit(GLUE, glue);

for (const module of MODULES) {
  emit(module, replaceOnce(readFileSync(join(here, module), 'utf8'),
    `from './${GLUE}'`, `from './${glueName}'`, module));
}

writeFileSync(join(distDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
for (const file of readdirSync(distDir).sort()) console.log(`${basename(distDir)}/${file}`);
