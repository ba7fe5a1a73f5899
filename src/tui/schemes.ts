/**
 * The TUI's view of the named init schemes and the advisor (issue 5: src/schemes.ts,
 * src/advise.ts). `loadSchemes()` returns a service when those modules exist in the build, and
 * undefined otherwise (the schemes view then says so; nothing is invented).
 */
import type { ConfigV1, ResolvedConfig } from '../config.js';
import type { Prediction } from '../engine.js';

export interface SchemeRow {
  name: string;
  /** the complete v1 config of the architecture under this scheme */
  config?: ConfigV1;
  pred?: Prediction;
  /** why the scheme does not apply to this architecture */
  error?: string;
}

export interface SchemesService {
  compare(cfg: ResolvedConfig): SchemeRow[];
  advise(cfg: ResolvedConfig): { config: ConfigV1; note?: string };
}

export async function loadSchemes(): Promise<SchemesService | undefined> {
  return undefined;
}
