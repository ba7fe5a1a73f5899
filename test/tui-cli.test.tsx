/**
 * The `tui` command end to end (built CLI): the non-TTY summary exits 0, --screenshot prints one
 * 80×24 frame, bad input exits 2 naming the field; and a real tiny verification driven from the
 * UI (harness in a forked child): progress, measured overlay, and Esc cancelling the process.
 */
import React from 'react';
import { beforeAll, describe, expect, it, afterEach } from 'vitest';
import { render, cleanup } from 'ink-testing-library';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from '../src/tui/App.js';
import { verifyService, type VerifyHandle, type VerifyService } from '../src/tui/verify.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/moments.js');
const PRELN = join(ROOT, 'examples/preln-48.json');
const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
const TINY = { name: 'tiny', layers: 2, dModel: 32, heads: 2, seqLen: 16, input: { r: 0.2 } };

function cli(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
}

beforeAll(() => {
  // the CLI and the verify child run the compiled dist/: build when a TUI source is newer
  const newest = Math.max(...readdirSync(join(ROOT, 'src/tui')).map((f) => statSync(join(ROOT, 'src/tui', f)).mtimeMs));
  const built = join(ROOT, 'dist/src/tui/main.js');
  if (!existsSync(built) || statSync(built).mtimeMs < newest) spawnSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'ignore' });
  expect(existsSync(built)).toBe(true);
}, 120_000);

afterEach(() => cleanup());

describe('tui command', () => {
  it('without a TTY prints a static one-screen summary and exits 0', () => {
    const r = cli(['tui', '--config', PRELN]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Pre-LN 48 layers');
    expect(r.stdout).toContain('forward var');
    expect(r.stdout).toMatch(/^48 +0 +6\.8\d\d/m); // the profile table's last layer
    expect(r.stdout).toContain('no TTY');
    expect(r.stdout.split('\n').length).toBeLessThan(45);
  });

  it('--screenshot prints one frame of at most 80×24', () => {
    const r = cli(['tui', '--config', PRELN, '--screenshot']);
    expect(r.status).toBe(0);
    const lines = r.stdout.replace(/\n$/, '').split('\n');
    expect(lines.length).toBeLessThanOrEqual(24);
    for (const l of lines) expect([...l].length).toBeLessThanOrEqual(80);
    expect(r.stdout).toContain('gradient var (log)');
    const f = cli(['tui', '--config', PRELN, '--screenshot', '--view', 'formula', '--layer', '3', '--width', '100', '--height', '30']);
    expect(f.status).toBe(0);
    expect(f.stdout).toContain('FORMULAS · layer 3 of 48');
  });

  it('bad input exits 2 with one clear error naming the field, no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tui-'));
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ layers: 4, dModel: 64, heads: 3, seqLen: 8 }));
    const r = cli(['tui', '--config', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('error: heads: must divide dModel (64), got 3');
    expect(cli(['tui', '--config', PRELN, '--view', 'nope', '--screenshot']).stderr).toContain('error: --view:');
  });
});

describe('tui verify (real tiny measurement in a child process)', () => {
  it('shows progress, then the measured points and per-layer error; Esc cancels a second run and kills its process', async () => {
    const svc = verifyService({ backend: 'wasm', seeds: 2, batch: 2 });
    expect(svc).toBeDefined();
    let handle: VerifyHandle | undefined;
    const spy: VerifyService = { start: (c, cb) => (handle = svc!.start(c, cb)) };
    const r = render(<App initial={TINY} columns={80} rows={24} verify={spy} />);
    const frame = () => r.lastFrame() ?? '';
    r.stdin.write('v');
    await tick(100);
    expect(frame()).toMatch(/verify .*%/);
    expect(frame()).toContain('Esc cancels');
    for (let i = 0; i < 600 && !/verify: (PASS|MISMATCH|FAILED)/.test(frame()); i++) await tick(100);
    const f = frame();
    expect(f).toMatch(/verify: (PASS|MISMATCH)/);
    expect(f).toContain('measured ±1σ');
    expect(f).toMatch(/meas [\d.]+±/);
    expect(f).toMatch(/err {2}[+-][\d.]+%/);
    // second run, cancelled
    r.stdin.write('v');
    await tick(200);
    expect(frame()).toMatch(/verify .*%/);
    const pid = handle!.pid!;
    expect(() => process.kill(pid, 0)).not.toThrow();
    r.stdin.write('\u001B');
    await tick(300);
    expect(frame()).toContain('verification cancelled');
    let alive = true;
    for (let i = 0; i < 50 && alive; i++) { try { process.kill(pid, 0); await tick(100); } catch { alive = false; } }
    expect(alive).toBe(false);
  }, 90_000);
});
