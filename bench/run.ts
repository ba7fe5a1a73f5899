/**
 * `npm run bench`: runs every benchmark module and writes BENCHMARKS.md (machine, date, method,
 * numbers). Each module exports `bench(): Promise<BenchSection>`.
 */
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { bench as predictBench } from './predict.js';

export interface BenchSection { title: string; method: string; rows: { name: string; value: string; target?: string; pass?: boolean }[]; notes?: string[] }

const MODULES: { name: string; run: () => Promise<BenchSection> }[] = [
  { name: 'predict', run: predictBench },
  { name: 'advise', run: async () => (await import('./advise.js')).bench() },
  { name: 'verify', run: async () => (await import('./verify.js')).bench() },
  { name: 'gpu', run: async () => (await import('./gpu.js')).bench() },
];

async function main(): Promise<void> {
  const only = process.argv[2];
  // child mode: one section, its result as JSON on stdout
  if (process.argv[3] === '--json') {
    const m = MODULES.find((x) => x.name === only);
    if (!m) throw new Error(`unknown bench section ${only}`);
    process.stdout.write(JSON.stringify(await m.run()));
    return;
  }
  if (only === '--help' || only === '-h') {
    process.stdout.write(`usage: npm run bench [-- <section>]\n  no section: every section, written to BENCHMARKS.md; one of ${MODULES.map((m) => m.name).join(', ')}: that section, printed only\n`);
    return;
  }
  if (only !== undefined && !MODULES.some((m) => m.name === only)) {
    process.stderr.write(`error: unknown bench section '${only}' (allowed: ${MODULES.map((m) => m.name).join(', ')})\n`);
    process.exitCode = 2;
    return;
  }
  const sections: BenchSection[] = [];
  for (const m of MODULES) {
    if (only && m.name !== only) continue;
    process.stderr.write(`bench: ${m.name}…\n`);
    // each section in a fresh process: what one section leaves in the heap (10,000 component
    // requests fill the quadrature memos; TF.js) changed the next section's GC pauses, e.g. advise
    // 22 / 29 ms median after the predict section vs 13.6 / 11.2 ms alone, minutes apart
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), m.name, '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 26 });
    if (r.status !== 0) throw new Error(`bench section ${m.name} failed (exit ${r.status})`);
    sections.push(JSON.parse(r.stdout) as BenchSection);
  }
  const cpu = os.cpus();
  const head = [
    '# Benchmarks',
    '',
    `Written by \`npm run bench\` on ${new Date().toISOString()}.`,
    `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}.`,
    '',
  ];
  const body = sections.flatMap((s) => [
    `## ${s.title}`, '', `Method: ${s.method}`, '',
    '| measurement | value | target | met |', '|---|---|---|---|',
    ...s.rows.map((r) => `| ${r.name} | ${r.value} | ${r.target ?? '—'} | ${r.pass === undefined ? '—' : r.pass ? 'yes' : '**no**'} |`),
    '', ...(s.notes ?? []).map((n) => `- ${n}`), '',
  ]);
  const text = [...head, ...body].join('\n');
  if (!only) writeFileSync(new URL('../../BENCHMARKS.md', import.meta.url), text);
  process.stdout.write(text + '\n');
}

await main();
