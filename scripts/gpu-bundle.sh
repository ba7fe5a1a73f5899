#!/usr/bin/env bash
# Bundle the CLI (with the verification harness) for the offline GPU machine, as
# ../shared/gpu/README.md describes: .gpu/app.mjs (the CLI) and .gpu/worker.mjs (the worker thread
# used by CPU backends), plus the tfjs-backend-wasm .wasm files in .gpu/wasm/ so that the bundle can
# also run `verify --backend wasm` (on this machine, or as a CPU baseline there).
#   scripts/gpu-bundle.sh            bundle only (.gpu/ must exist or is created)
#   scripts/gpu-bundle.sh --prepare  first run ../shared/gpu/prepare.sh (node, Vulkan loaders,
#                                    trimmed webgpu package; its apt download needs the network)
# Then, e.g.:  node .gpu/app.mjs verify --backend wasm --config examples/preln-48.json --seeds 2
# and on the GPU machine (run tool, carry [".gpu"]):
#   bash .gpu/entry.sh .gpu/app.mjs verify --backend webgpu --config FILE --json > $OUT/r.json
# `webgpu` stays external (its dawn.node is loaded from .gpu/node_modules/webgpu, or from the
# project's node_modules here); the optional tfjs-node peers are dynamic imports and stay out.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ "${1:-}" = "--prepare" ]; then
  prep=${GPU_PREPARE:-../shared/gpu/prepare.sh}
  if ! bash "$prep"; then echo "gpu-bundle: prepare.sh failed (network parts need apt access); bundling anyway" >&2; fi
fi
mkdir -p .gpu/wasm
esbuild=node_modules/.bin/esbuild
[ -x "$esbuild" ] || { echo "gpu-bundle: $esbuild missing: run npm ci first" >&2; exit 1; }
banner="import { createRequire as __cr } from 'module'; import { fileURLToPath as __fu } from 'url'; import { dirname as __dn } from 'path'; const require = __cr(import.meta.url); const __filename = __fu(import.meta.url); const __dirname = __dn(__filename);"
common=(--bundle --platform=node --format=esm --target=node20 --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu --log-level=warning)
# worker thread entry
"$esbuild" verify/worker.ts "${common[@]}" --banner:js="$banner" --outfile=.gpu/worker.mjs
# CLI entry: the verify, predict and component commands (not the interactive TUI), with the CLI's
# error handling (InputError → "error: ...", exit 2); the harness finds the bundled worker by URL
cat > .gpu/entry-cli.ts <<'TS'
import { InputError } from '../src/errors.js';
import * as verify from '../src/commands/verify.js';
import * as predict from '../src/commands/predict.js';
import * as component from '../src/commands/component.js';
const commands: Record<string, { usage: string; run(a: string[]): number | Promise<number> }> = { verify, predict, component };
const [cmd, ...rest] = process.argv.slice(2);
const c = cmd ? commands[cmd] : undefined;
if (!c) {
  process.stderr.write(`usage: node .gpu/app.mjs <${Object.keys(commands).join('|')}> ...\n`);
  process.exitCode = 2;
} else if (rest.includes('--help')) {
  process.stdout.write(c.usage + '\n');
} else {
  try { process.exitCode = await c.run(rest); } catch (e) {
    if (!(e instanceof InputError)) throw e;
    process.stderr.write(`error: ${e.message}\n`);
    process.exitCode = 2;
  }
}
TS
"$esbuild" .gpu/entry-cli.ts "${common[@]}" \
  --banner:js="$banner globalThis.__momentsWorkerUrl = new URL('./worker.mjs', import.meta.url);" \
  --outfile=.gpu/app.mjs
rm -f .gpu/entry-cli.ts
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm .gpu/wasm/
du -sh .gpu/app.mjs .gpu/worker.mjs .gpu/wasm | sed 's/^/gpu-bundle: /'
