/** `moments tui` — the terminal UI (src/tui/); ink and React load only when this command runs. */
export const usage = `moments tui [--config FILE | --hf config.json [--seq-len L] [--tokens uniform|zipf] [--eval]] [--screenshot] [--width W] [--height H] [--view profile|formula|schemes] [--layer L]
               [--backend B] [--seeds K] [--batch B]
  Full-screen terminal UI: edit the model, see the per-layer profile, formulas, warnings,
  schemes and verification. Without a TTY prints a static summary and exits 0.
  --screenshot  print one rendered frame (W×H, default 80×24) and exit
  --backend, --seeds, --batch  what the verify key (v) measures with (as for \`moments verify\`)`;

export async function run(argv: string[]): Promise<number> {
  const m = await import('../tui/main.js');
  return m.run(argv);
}
