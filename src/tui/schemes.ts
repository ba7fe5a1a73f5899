/**
 * The TUI's view of the named init schemes and the advisor (src/schemes.ts, src/advise.ts):
 * the same architecture under every scheme with its predicted profile, and the advised init.
 */
import { toConfigV1, type ConfigV1, type ResolvedConfig } from '../config.js';
import type { Prediction } from '../engine.js';
import { advise } from '../advise.js';
import { SCHEME_NAMES, SCHEMES } from '../schemes.js';

export interface SchemeRow {
  name: string;
  title?: string;
  /** the complete v1 config of the architecture under this scheme */
  config?: ConfigV1;
  pred?: Prediction;
  /** inside the default band (forward var in [0.9, 1.1], gradVar within [0.5, 2] × top) */
  ok?: boolean;
  notes?: string[];
  /** why the scheme does not apply to this architecture */
  error?: string;
}

export interface SchemesService {
  compare(cfg: ResolvedConfig): SchemeRow[];
  advise(cfg: ResolvedConfig): { config: ConfigV1; note?: string };
}

export const schemesService: SchemesService = {
  compare(cfg) {
    return SCHEME_NAMES.map((name) => {
      try {
        const a = advise(cfg, { scheme: name, noFormulas: true });
        return { name, title: SCHEMES[name].title, config: toConfigV1(a.config), pred: a.predicted, ok: a.check.ok, notes: a.notes };
      } catch (e) {
        return { name, title: SCHEMES[name].title, error: (e as Error).message };
      }
    });
  },
  advise(cfg) {
    const a = advise(cfg, { noFormulas: true });
    const un = a.unsatisfiable[0];
    const note = un ? `cannot meet ${un.moment} at layer ${un.layer} (${un.reason})` : a.check.ok ? 'inside the target band at every layer' : undefined;
    return { config: toConfigV1(a.config), note };
  },
};

export async function loadSchemes(): Promise<SchemesService | undefined> {
  return schemesService;
}
