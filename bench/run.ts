/**
 * `npm run bench`: runs every benchmark module and writes BENCHMARKS.md (machine, date, method,
 * numbers). Each module exports `bench(): Promise<BenchSection>`.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { bench as predictBench } from './predict.js';

export interface BenchSection { title: string; method: string; rows: { name: string; value: string; target?: string; pass?: boolean }[]; notes?: string[] }

// the engine sections first: the harness section loads TF.js and its wasm backend into this
// process (a larger heap, slower scavenges), which made the advise section measured after it ~1.7×
// slower than measured alone (21 vs 12.8 ms median on the same machine minutes apart)
const MODULES: { name: string; run: () => Promise<BenchSection> }[] = [
  { name: 'predict', run: predictBench },
  { name: 'advise', run: async () => (await import('./advise.js')).bench() },
  { name: 'verify', run: async () => (await import('./verify.js')).bench() },
];

async function main(): Promise<void> {
  const only = process.argv[2];
  const sections: BenchSection[] = [];
  for (const m of MODULES) {
    if (only && m.name !== only) continue;
    process.stderr.write(`bench: ${m.name}…\n`);
    sections.push(await m.run());
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
