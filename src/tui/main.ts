/** `moments tui`: loads the config, then the interactive app, one frame, or the static summary. */
import { checkFlags, intFlag, parseArgs, readJsonFile, str } from '../args.js';
import { fail } from '../errors.js';
import { resolveConfig } from '../config.js';
import type { View } from './App.js';
import type { Draft } from './model.js';
import { hfFromArgs } from '../hf.js';
import type { BackendName } from '../../verify/backend.js';

function loadDraft(a: ReturnType<typeof parseArgs>): { draft: Draft; source: string } {
  const path = str(a, 'config') ?? a._[0];
  if (path && str(a, 'hf') !== undefined) fail('--hf', 'use either --config or --hf, not both');
  const hf = hfFromArgs(a);
  if (hf) return { draft: hf.config as unknown as Draft, source: `${(str(a, 'hf') ?? '').split('/').pop()} (${hf.family})` };
  if (!path) fail('--config', 'is required (a config v1 JSON file), or --hf config.json');
  const raw = readJsonFile(path, '--config');
  resolveConfig(raw); // bad files fail here with the field named, before any UI starts
  return { draft: raw as Draft, source: path.split('/').pop() ?? path };
}

export async function run(argv: string[]): Promise<number> {
  const a = parseArgs(argv, ['screenshot', 'eval']);
  checkFlags(a, ['config', 'hf', 'screenshot', 'width', 'height', 'view', 'layer', 'backend', 'seeds', 'batch', 'seq-len', 'tokens', 'eval']);
  const { draft, source } = loadDraft(a);
  const view = (str(a, 'view') ?? 'profile') as View;
  if (!['profile', 'formula', 'schemes'].includes(view)) fail('--view', `must be one of profile, formula, schemes, got ${JSON.stringify(view)}`);
  const layer = a.flags.layer === undefined ? undefined : intFlag(a, 'layer', 1, 0, 100_000);
  const columns = intFlag(a, 'width', 80, 40, 400), rows = intFlag(a, 'height', 24, 12, 200);
  const backend = (str(a, 'backend') ?? 'auto') as BackendName;
  if (backend !== 'auto') {
    // the harness module loads TF.js: only when a backend is named
    const { BACKENDS } = await import('../../verify/backend.js');
    if (!BACKENDS.includes(backend)) fail('--backend', `must be one of ${BACKENDS.join(', ')}, got '${backend}'`);
  }
  const vopts = { backend, seeds: intFlag(a, 'seeds', 4, 1, 1000), batch: intFlag(a, 'batch', 4, 1, 65_536) };
  // heavy modules (engine, ink, React) load only once the input is known to be good
  const [{ default: React }, { render, renderToString }, { App }, { staticSummary }, { loadSchemes }, { loadVerify }, { predictResolved }] = await Promise.all([
    import('react'), import('ink'), import('./App.js'), import('./summary.js'), import('./schemes.js'), import('./verify.js'), import('../engine.js'),
  ]);
  const [schemes, verify] = await Promise.all([loadSchemes(), loadVerify(vopts)]);
  if (a.flags.screenshot) {
    const frame = renderToString(React.createElement(App, { initial: draft, source, columns, rows, view, layer, schemes, verify }), { columns });
    process.stdout.write(frame + '\n');
    return 0;
  }
  if (!process.stdout.isTTY || !process.stdin.isTTY) {
    const cfg = resolveConfig(draft);
    process.stdout.write(staticSummary(cfg, predictResolved(cfg), process.stdout.columns ?? 80));
    return 0;
  }
  process.stdout.write('\x1b[?1049h\x1b[H'); // alternate screen
  try {
    const inst = render(React.createElement(App, { initial: draft, source, view, layer, schemes, verify }), { exitOnCtrlC: true, patchConsole: true });
    await inst.waitUntilExit();
  } finally {
    process.stdout.write('\x1b[?1049l');
  }
  return 0;
}
