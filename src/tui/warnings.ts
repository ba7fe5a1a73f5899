/** The prediction's warnings, classified, each with the layer where it starts. */
export type WarningKind = 'explosion' | 'vanishing' | 'rank-collapse' | 'saturated' | 'domain' | 'other';

export interface TuiWarning { kind: WarningKind; layer?: number; text: string }

const KIND_LABEL: Record<WarningKind, string> = {
  explosion: 'EXPLODES', vanishing: 'VANISHES', 'rank-collapse': 'RANK COLLAPSE', saturated: 'SATURATED', domain: 'OUT OF DOMAIN', other: 'NOTE',
};
export const kindLabel = (k: WarningKind): string => KIND_LABEL[k];

export function classify(text: string): TuiWarning {
  const t = text.toLowerCase();
  let kind: WarningKind = 'other';
  if (/vanish/.test(t)) kind = 'vanishing';
  else if (/explode|grows past|overflow/.test(t)) kind = 'explosion';
  else if (/rank collapse/.test(t)) kind = 'rank-collapse';
  else if (/saturat/.test(t)) kind = 'saturated';
  else if (/domain|outside|valid/.test(t)) kind = 'domain';
  const m = /\blayer (\d+)/.exec(text);
  return { kind, layer: m ? Number(m[1]) : undefined, text };
}

/** Classified warnings ordered by the layer where they start (unlocated ones last). */
export function tuiWarnings(ws: string[]): TuiWarning[] {
  return ws.map(classify).sort((a, b) => (a.layer ?? Infinity) - (b.layer ?? Infinity));
}
