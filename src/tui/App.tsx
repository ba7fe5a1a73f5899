/**
 * The terminal UI (ink): model panel (editable config), profile charts over depth with a layer
 * cursor, formula panel of the picked layer, warnings pointing at layers, schemes side by side,
 * verification with a progress bar and measured overlays, help overlay. Layout adapts to the
 * terminal size (readable at 80×24).
 */
import React, { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Box, Text, useApp, useInput, useStdin, useStdout, type Key } from 'ink';
import type { ResolvedConfig } from '../config.js';
import type { LayerResult, Prediction } from '../engine.js';
import { fmt } from '../format.js';
import { chart, progressBar, type Overlay, type Segment } from './plot.js';
import { fieldOfError, fieldValue, stepField, typeField, validate, valueText, visibleFields, type Draft } from './model.js';
import { entryOf, layerStages, stageFormulas, type StageView } from './formula.js';
import { kindLabel, tuiWarnings, type TuiWarning } from './warnings.js';
import { Predictor, type PredictResult } from './predictor.js';
import type { SchemeRow, SchemesService } from './schemes.js';
import type { MeasuredLayer, VerifyHandle, VerifyProgress, VerifyService } from './verify.js';

export type View = 'profile' | 'formula' | 'schemes';
const VIEWS: View[] = ['profile', 'formula', 'schemes'];

export interface AppProps {
  initial: Draft;
  source?: string;
  /** fixed terminal size (tests, --screenshot); otherwise the terminal's, following resizes */
  columns?: number;
  rows?: number;
  /** initial view and layer (screenshots) */
  view?: View;
  layer?: number;
  schemes?: SchemesService;
  verify?: VerifyService;
  /** notified of every finished prediction (tests) */
  onPredict?: (p: Prediction, cfg: ResolvedConfig) => void;
}

interface VerifyState {
  status: 'idle' | 'running' | 'done' | 'cancelled' | 'error';
  progress?: VerifyProgress;
  message?: string;
  measured?: MeasuredLayer[];
  /** the config the measurement belongs to (overlay only while it is the shown one) */
  cfgKey?: string;
}

const COLORS = { var: 'green', gradVar: 'magenta', r: 'cyan', overlay: 'yellow' } as const;

const NO_KEY: Key = {
  upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false,
  return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false,
  super: false, hyper: false, capsLock: false, numLock: false,
};

/** State whose latest value is also readable at once through a ref (for key handlers). */
function useLive<T>(init: T): [T, (v: T) => void, { current: T }] {
  const [v, setV] = useState<T>(init);
  const ref = useRef<T>(v);
  const set = useCallback((x: T) => { ref.current = x; setV(x); }, []);
  return [v, set, ref];
}

function clamp(x: number, lo: number, hi: number): number { return Math.max(lo, Math.min(hi, x)); }
const cfgKey = (c: ResolvedConfig) => JSON.stringify(c);
const pad = (s: string, w: number) => (s.length > w ? s.slice(0, Math.max(0, w - 1)) + '…' : s.padEnd(w));

/** Wrap text to `w` columns (words; long words are cut). */
export function wrap(text: string, w: number): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/\s+/)) {
      if (!word) continue;
      let rest = word;
      while (rest.length > w) {
        if (line) { out.push(line); line = ''; }
        out.push(rest.slice(0, w)); rest = rest.slice(w);
      }
      if (!line) line = rest;
      else if (line.length + 1 + rest.length <= w) line += ' ' + rest;
      else { out.push(line); line = rest; }
    }
    out.push(line);
  }
  return out;
}

// ------------------------------------------------------------------------------------------ App

export function App(props: AppProps): React.JSX.Element {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const { stdout } = useStdout();
  const fixed = props.columns !== undefined;
  const [size, setSize] = useState(() => ({
    cols: props.columns ?? stdout?.columns ?? 80,
    rows: props.rows ?? (stdout?.rows ? stdout.rows - 1 : 24),
  }));
  useEffect(() => {
    if (fixed || !stdout) return;
    const on = () => setSize({ cols: stdout.columns ?? 80, rows: (stdout.rows ?? 25) - 1 });
    stdout.on('resize', on);
    return () => { stdout.off('resize', on); };
  }, [stdout, fixed]);

  // ---- model + prediction
  const [draft, setDraft, draftR] = useLive<Draft>(props.initial);
  const firstValid = useMemo(() => validate(props.initial), [props.initial]);
  const [cfg, setCfg, cfgR] = useLive<ResolvedConfig | undefined>(firstValid.ok ? firstValid.cfg : undefined);
  const [error, setError] = useState<{ field: string; message: string } | undefined>(firstValid.ok ? undefined : firstValid);
  const [note, setNote] = useState<string | undefined>();
  const pendingCfg = useRef(new Map<number, ResolvedConfig>());
  const onPredict = props.onPredict;
  const acceptRef = useRef<(r: PredictResult, c: ResolvedConfig) => void>(() => {});
  const [predictor] = useState(() => new Predictor((r) => {
    const c = pendingCfg.current.get(r.id);
    pendingCfg.current.delete(r.id);
    if (c && r.id === predictor.latest) acceptRef.current(r, c); // older ids are stale
  }));
  useEffect(() => () => predictor.close(), [predictor]);
  // the first prediction: synchronous when fast, so that the first frame has the charts
  const [init] = useState(() => {
    if (!firstValid.ok) return undefined;
    const r = predictor.request(firstValid.cfg);
    if (!r) pendingCfg.current.set(predictor.latest, firstValid.cfg);
    return r;
  });
  const [pred, setPred, predR] = useLive<Prediction | undefined>(init?.ok ? init.pred : undefined);
  const [predCfg, setPredCfg, predCfgR] = useLive<ResolvedConfig | undefined>(init?.ok && firstValid.ok ? firstValid.cfg : undefined);
  const [busy, setBusy] = useState(firstValid.ok && !init);
  const [predMs, setPredMs] = useState<number | undefined>(init?.ok ? init.ms : undefined);
  useEffect(() => { if (init?.ok && firstValid.ok) onPredict?.(init.pred, firstValid.cfg); }, []); // eslint-disable-line react-hooks/exhaustive-deps

  const accept = useCallback((r: PredictResult, c: ResolvedConfig) => {
    setBusy(false);
    if (!r.ok) { setNote(`prediction failed: ${r.error}`); return; }
    setPred(r.pred); setPredCfg(c); setPredMs(r.ms);
    onPredict?.(r.pred, c);
  }, [onPredict]);
  acceptRef.current = accept;

  const predict = useCallback((c: ResolvedConfig) => {
    const r = predictor.request(c);
    if (r) accept(r, c); else { pendingCfg.current.set(predictor.latest, c); setBusy(true); }
  }, [predictor, accept]);
  const shownPred = pred, shownCfg = predCfg, isBusy = busy;

  const applyDraft = useCallback((d: Draft, message?: string) => {
    setDraft(d);
    // (setDraft/setCfg update the live refs at once, so the next key sees this edit)
    const v = validate(d);
    if (v.ok) { setError(undefined); setCfg(v.cfg); predict(v.cfg); setNote(message); }
    else { setError({ field: v.field, message: v.message }); setNote(undefined); }
  }, [predict]);

  // ---- UI state
  const [view, setView, viewR] = useLive<View>(props.view ?? 'profile');
  const [help, setHelp, helpR] = useLive(false);
  const [fieldIdx, setFieldIdx, fieldIdxR] = useLive(0);
  const [editing, setEditing, editingR] = useLive<string | undefined>(undefined);
  const N = shownCfg?.layers ?? 0;
  const [cursorRaw, setCursor, cursorR] = useLive(props.layer ?? 1);
  const cursor = clamp(cursorRaw, 0, N);
  const [stageIdx, setStageIdx, stageIdxR] = useLive(0);
  const [detailScroll, setDetailScroll, detailScrollR] = useLive(0);
  const [warnIdx, setWarnIdx, warnIdxR] = useLive<number | undefined>(undefined);
  const [schemeIdx, setSchemeIdx, schemeIdxR] = useLive(0);
  /** the scheme the init came from: 'file' until a scheme is applied, 'custom' after hand edits */
  const [initFrom, setInitFrom] = useState('file');
  const [verify, setVerify] = useState<VerifyState>({ status: 'idle' });
  const verifyHandle = useRef<VerifyHandle | undefined>(undefined);
  useEffect(() => () => verifyHandle.current?.cancel(), []);

  const fields = visibleFields(draft, cfg);
  const fIdx = clamp(fieldIdx, 0, fields.length - 1);
  const warnings = useMemo(() => tuiWarnings(shownPred?.warnings ?? []), [shownPred]);
  const stages = useMemo(() => (shownPred && shownCfg ? layerStages(shownPred, shownCfg, cursor) : []), [shownPred, shownCfg, cursor]);
  const sIdx = clamp(stageIdx, 0, Math.max(0, stages.length - 1));

  // scheme comparisons, cached per config (the key handler may run before the next render)
  const schemeCache = useRef(new Map<ResolvedConfig, SchemeRow[] | { error: string }>());
  const schemeRowsOf = useCallback((c: ResolvedConfig | undefined): SchemeRow[] | { error: string } | undefined => {
    if (!props.schemes || !c) return undefined;
    let r = schemeCache.current.get(c);
    if (!r) {
      try { r = props.schemes.compare(c); } catch (e) { r = { error: (e as Error).message }; }
      schemeCache.current.clear();
      schemeCache.current.set(c, r);
    }
    return r;
  }, [props.schemes]);
  const schemeRows = view === 'schemes' ? schemeRowsOf(cfg) : undefined;

  // ---- verification
  const startVerify = useCallback(() => {
    if (!props.verify) { setNote('verify: the measurement harness is not available in this build'); return; }
    if (!cfg) { setNote('verify: fix the config first'); return; }
    if (verifyHandle.current) return;
    const key = cfgKey(cfg);
    setVerify({ status: 'running', cfgKey: key, progress: { fraction: 0, text: 'starting' } });
    verifyHandle.current = props.verify.start(cfg, {
      onProgress: (p) => setVerify((v) => (v.status === 'running' ? { ...v, progress: p } : v)),
      onDone: (m, message) => { verifyHandle.current = undefined; setVerify({ status: 'done', measured: m, cfgKey: key, message }); },
      onError: (msg) => { verifyHandle.current = undefined; setVerify({ status: 'error', message: msg }); },
    });
  }, [props.verify, cfg]);
  const cancelVerify = useCallback(() => {
    if (!verifyHandle.current) return false;
    verifyHandle.current.cancel();
    verifyHandle.current = undefined;
    setVerify({ status: 'cancelled', message: 'verification cancelled' });
    return true;
  }, []);
  const measured = verify.status === 'done' && shownCfg && verify.cfgKey === cfgKey(shownCfg) ? verify.measured : undefined;

  // ---- keys. Read the live refs, not this render's values: several keys can arrive before
  // React re-renders (key repeat, pasted text), and each must see the previous one's effect.
  const onKey = (input: string, key: Key): void => {
    // several keys in one chunk (fast typing, key repeat, tmux send-keys, paste): one at a time
    if (input.length > 1 && !input.includes('\u001B') && !key.ctrl && !key.meta) {
      for (const ch of input) {
        onKey(ch === '\r' || ch === '\n' || ch === '\t' || ch === '\u007F' || ch === '\b' ? '' : ch,
          { ...NO_KEY, return: ch === '\r' || ch === '\n', tab: ch === '\t', backspace: ch === '\u007F' || ch === '\b' });
      }
      return;
    }
    const draft = draftR.current, cfg = cfgR.current, view = viewR.current, editing = editingR.current;
    const shownPred = predR.current, shownCfg = predCfgR.current;
    const N = shownCfg?.layers ?? 0;
    const cursor = clamp(cursorR.current, 0, N);
    const fields = visibleFields(draft, cfg);
    const fIdx = clamp(fieldIdxR.current, 0, fields.length - 1);
    const warnings = tuiWarnings(shownPred?.warnings ?? []);
    const stages = view === 'formula' && shownPred && shownCfg ? layerStages(shownPred, shownCfg, cursor) : [];
    const sIdx = clamp(stageIdxR.current, 0, Math.max(0, stages.length - 1));
    const detailScroll = detailScrollR.current, warnIdx = warnIdxR.current, schemeIdx = schemeIdxR.current;
    const moveLayer = (d: number) => { setCursor(clamp(cursor + d, 0, N)); setDetailScroll(0); };
    const jumpWarning = (dir: 1 | -1) => {
      if (!warnings.length) { setNote('no warnings'); return; }
      const i = warnIdx === undefined ? (dir > 0 ? 0 : warnings.length - 1) : (warnIdx + dir + warnings.length) % warnings.length;
      setWarnIdx(i);
      const l = warnings[i].layer;
      if (l !== undefined) setCursor(clamp(l, 0, N));
    };
    const commitEdit = () => {
      if (editing === undefined) return;
      setEditing(undefined);
      if (/^(init|residual)\./.test(fields[fIdx].path)) setInitFrom('custom');
      applyDraft(typeField(draft, fields[fIdx], editing));
    };
    if (helpR.current) { setHelp(false); return; }
    if (editing !== undefined) {
      if (key.return) commitEdit();
      else if (key.escape) setEditing(undefined);
      else if (key.backspace || key.delete) setEditing(editing.slice(0, -1));
      else if (input && !key.ctrl && !key.meta && !key.tab && !key.upArrow && !key.downArrow) setEditing(editing + input);
      return;
    }
    if (key.escape) { if (!cancelVerify()) setNote(undefined); return; }
    if (input === 'q') { cancelVerify(); exit(); return; }
    if (input === '?') { setHelp(true); return; }
    if (key.tab) { const i = VIEWS.indexOf(view); setView(VIEWS[(i + (key.shift ? -1 : 1) + VIEWS.length) % VIEWS.length]); return; }
    if (input === 'p') { setView('profile'); return; }
    if (input === 'f') { setView('formula'); return; }
    if (input === 's') { setView('schemes'); return; }
    if (input === 'v') { startVerify(); return; }
    if (input === 'w') { jumpWarning(1); return; }
    if (input === 'W') { jumpWarning(-1); return; }
    const big = Math.max(1, Math.round(N / 10));
    if (input === 'h' || (key.leftArrow && view !== 'schemes')) { moveLayer(-1); return; }
    if (input === 'l' || (key.rightArrow && view !== 'schemes')) { moveLayer(1); return; }
    if (input === 'H' || key.pageUp) { moveLayer(-big); return; }
    if (input === 'L' || key.pageDown) { moveLayer(big); return; }
    if (input === 'g' || key.home) { setCursor(0); return; }
    if (input === 'G' || key.end) { setCursor(N); return; }
    const up = key.upArrow || input === 'k', down = key.downArrow || input === 'j';
    if (view === 'profile') {
      if (up) { setFieldIdx(clamp(fIdx - 1, 0, fields.length - 1)); return; }
      if (down) { setFieldIdx(clamp(fIdx + 1, 0, fields.length - 1)); return; }
      const f = fields[fIdx];
      const handEdit = () => { if (/^(init|residual)\./.test(f.path)) setInitFrom('custom'); };
      if (input === '+' || input === '=' || input === ' ') { handEdit(); applyDraft(stepField(draft, cfg, f, 1)); return; }
      if (input === '-' || input === '_') { handEdit(); applyDraft(stepField(draft, cfg, f, -1)); return; }
      if (key.return) { const v = fieldValue(f, draft, cfg); setEditing(Array.isArray(v) ? '' : valueText(v) === '—' ? '' : String(v)); return; }
      if (/^[0-9.]$/.test(input)) { setEditing(input); return; }
    } else if (view === 'formula') {
      if (up) { setStageIdx(clamp(sIdx - 1, 0, stages.length - 1)); setDetailScroll(0); return; }
      if (down) { setStageIdx(clamp(sIdx + 1, 0, stages.length - 1)); setDetailScroll(0); return; }
      if (input === ']') { setDetailScroll(detailScroll + 3); return; }
      if (input === '[') { setDetailScroll(Math.max(0, detailScroll - 3)); return; }
    } else if (view === 'schemes') {
      const sr = schemeRowsOf(cfg);
      const rows = Array.isArray(sr) ? sr : [];
      if (up) { setSchemeIdx(clamp(schemeIdx - 1, 0, rows.length - 1)); return; }
      if (down) { setSchemeIdx(clamp(schemeIdx + 1, 0, rows.length - 1)); return; }
      if (key.return && rows[schemeIdx]?.config) { setInitFrom(rows[schemeIdx].name); applyDraft(rows[schemeIdx].config as unknown as Draft, `applied scheme ${rows[schemeIdx].name}`); setView('profile'); return; }
      if (input === 'a' && props.schemes && cfg) {
        try {
          const a = props.schemes.advise(cfg);
          setInitFrom('advised');
          applyDraft(a.config as unknown as Draft, `advised init applied${a.note ? `: ${a.note}` : ''}`);
          setView('profile');
        } catch (e) { setNote(`advise: ${(e as Error).message}`); }
        return;
      }
    }
  };
  useInput(onKey, { isActive: Boolean(isRawModeSupported) });

  // ------------------------------------------------------------------------------- layout
  const W = Math.max(40, size.cols), H = Math.max(12, size.rows);
  if (help) return <Help width={W} height={H} />;
  const warnRows = warnings.length ? Math.min(warnings.length, H >= 30 ? 4 : 2) : 0;
  const bodyH = H - 3 - warnRows; // header, status, keys
  const title = `${props.source ? props.source + ' · ' : ''}${shownCfg?.name ?? cfg?.name ?? 'config'}`;
  const stale = Boolean(error) || isBusy;

  let body: React.JSX.Element;
  if (!shownPred || !shownCfg) {
    body = <Box height={bodyH} flexDirection="row">
      <ModelPanel width={Math.min(28, W)} height={bodyH} fields={fields} idx={fIdx} draft={draft} cfg={cfg} editing={editing} error={error} />
      <Box flexDirection="column" paddingLeft={1}><Text>{isBusy ? 'predicting…' : 'no valid config yet — fix the field in red'}</Text></Box>
    </Box>;
  } else if (view === 'profile') {
    const modelW = W >= 100 ? 30 : 24;
    body = <Box height={bodyH} flexDirection="row">
      <ModelPanel width={modelW} height={bodyH} fields={fields} idx={fIdx} draft={draft} cfg={cfg} editing={editing} error={error} initFrom={initFrom} />
      <Profile width={W - modelW - 1} height={bodyH} pred={shownPred} cursor={cursor} measured={measured} dim={stale} />
    </Box>;
  } else if (view === 'formula') {
    body = <FormulaView width={W} height={bodyH} stages={stages} idx={sIdx} layer={cursor} layers={N} scroll={detailScroll} />;
  } else {
    body = <SchemesView width={W} height={bodyH} rows={schemeRows} idx={schemeIdx} available={Boolean(props.schemes)} />;
  }

  const status = verify.status === 'running' && verify.progress
    ? <Text color="yellow">verify {progressBar(verify.progress.fraction, 20)} {Math.round(verify.progress.fraction * 100)}% {verify.progress.text}  (Esc cancels)</Text>
    : <Text color={error ? 'red' : verify.status === 'error' ? 'red' : undefined} wrap="truncate">{
      error ? `✗ ${error.message}` : isBusy ? 'predicting… (causal attention quadrature)' : note ?? (verify.message ? `verify: ${verify.message}` : `${shownPred?.method ?? ''} · predicted in ${predMs !== undefined ? (predMs < 10 ? predMs.toFixed(1) : Math.round(predMs)) + ' ms' : '—'}`)
    }</Text>;
  const hints: Record<View, string> = {
    profile: '↑↓ field  +/- change  ⏎ type  ←→ layer  tab view  w warning  v verify  ? help  q quit',
    formula: '↑↓ sub-block  ←→ layer  [ ] scroll  tab view  w warning  v verify  ? help  q quit',
    schemes: '↑↓ scheme  ⏎ apply  a advise  tab view  ? help  q quit',
  };
  return (
    <Box flexDirection="column" width={W} height={H}>
      <Box width={W}>
        <Text bold color="white" backgroundColor="blue" wrap="truncate">{pad(` signal-moments │ ${title}`, W - 32)}</Text>
        <Text backgroundColor="blue" color="white">{VIEWS.map((v) => (v === view ? `[${v}]` : ` ${v} `)).join('').padEnd(32).slice(0, 32)}</Text>
      </Box>
      {body}
      {warnRows > 0 && <WarningsBox width={W} rows={warnRows} warnings={warnings} selected={warnIdx} />}
      <Box width={W}>{status}</Box>
      <Box width={W}><Text dimColor wrap="truncate">{hints[view]}</Text></Box>
    </Box>
  );
}

// --------------------------------------------------------------------------------- model panel

function ModelPanel(p: { width: number; height: number; fields: ReturnType<typeof visibleFields>; idx: number; draft: Draft; cfg?: ResolvedConfig; editing?: string; error?: { field: string; message: string }; initFrom?: string }): React.JSX.Element {
  const labelW = 10, valW = p.width - labelW - 3;
  // (label 10, value ≥ 11: 'layernorm', '0.02…0.0123')
  const errIdx = p.error ? fieldOfError(p.error.field, p.fields) : -1;
  const lines: React.JSX.Element[] = [];
  p.fields.forEach((f, i) => {
    const sel = i === p.idx;
    const raw = fieldValue(f, p.draft, p.cfg);
    const text = sel && p.editing !== undefined ? `${p.editing}▏` : valueText(raw);
    const bad = i === errIdx;
    lines.push(
      <Box key={f.path} width={p.width}>
        <Text color={sel ? 'cyan' : undefined}>{sel ? '▸' : ' '}</Text>
        <Text color={bad ? 'red' : undefined} bold={sel}>{pad(f.label, labelW)}</Text>
        <Text inverse={sel} color={bad ? 'red' : sel && p.editing !== undefined ? 'yellow' : undefined}>{pad(' ' + text, valW + 1)}</Text>
        <Text color="red">{bad ? '✗' : ' '}</Text>
      </Box>,
    );
    if (bad && p.error) {
      for (const [k, l] of wrap(p.error.message, p.width - 2).entries()) lines.push(<Text key={`e${k}`} color="red">{'  ' + l}</Text>);
    }
  });
  if (p.error && errIdx < 0) for (const [k, l] of wrap(p.error.message, p.width - 2).entries()) lines.push(<Text key={`e${k}`} color="red">{'  ' + l}</Text>);
  // scroll so that the selected field (and its error) is visible
  const avail = p.height - 1;
  let start = 0;
  const selLine = lines.findIndex((l) => l.key === p.fields[p.idx]?.path);
  if (lines.length > avail) start = clamp(selLine - Math.floor(avail / 2), 0, lines.length - avail);
  const shown = lines.slice(start, start + avail);
  return (
    <Box flexDirection="column" width={p.width} height={p.height} marginRight={1}>
      <Text bold color="blue">{pad(`MODEL${p.initFrom ? ` · init ${p.initFrom}` : ''}${start > 0 ? ' ↑' : ''}${start + avail < lines.length ? ' ↓' : ''}`, p.width)}</Text>
      {shown}
    </Box>
  );
}

// ------------------------------------------------------------------------------------- profile

function Segments({ segs, color }: { segs: Segment[]; color: string }): React.JSX.Element {
  return <>{segs.map((s, i) => <Text key={i} color={s.style === 'overlay' ? COLORS.overlay : s.style === 'line' ? color : 'gray'} inverse={s.cursor}>{s.text}</Text>)}</>;
}

function overlayOf(measured: MeasuredLayer[] | undefined, q: 'var' | 'gradVar' | 'r'): Overlay[] | undefined {
  if (!measured) return undefined;
  const out: Overlay[] = [];
  for (const m of measured) {
    const v = m[q];
    if (!v) continue;
    out.push({ x: m.layer, y: v[0], lo: v[0] - v[1], hi: v[0] + v[1] });
  }
  return out;
}

/** measured − predicted: relative for variances, absolute for correlations (as `moments verify`) */
function errText(q: 'var' | 'gradVar' | 'r', pred: number | null | undefined, meas?: [number, number] | null): string {
  if (pred === null || pred === undefined || !meas) return '';
  const d = meas[0] - pred;
  if (q === 'r') return `err  ${d >= 0 ? '+' : ''}${fmt(d, 2)}`;
  return pred === 0 ? '' : `err  ${d >= 0 ? '+' : ''}${fmt((d / Math.abs(pred)) * 100, 2)}%`;
}
const measText = (m: [number, number]) => `meas ${fmt(m[0], 3)}±${fmt(m[1], 1)}`;

function Profile(p: { width: number; height: number; pred: Prediction; cursor: number; measured?: MeasuredLayer[]; dim: boolean }): React.JSX.Element {
  const axisW = 7, sideW = p.width >= 70 ? 19 : 17;
  const plotW = Math.max(8, p.width - axisW - 1 - sideW - 1);
  const h = Math.max(1, Math.floor((p.height - 4) / 3)); // 3 titles + the x axis
  const L = p.pred.layers;
  const at: LayerResult | undefined = L[p.cursor];
  const m = p.measured?.find((x) => x.layer === p.cursor);
  const vals = (q: 'var' | 'gradVar' | 'r') => L.map((l) => l[q]);
  const spanDecades = (xs: (number | null)[]) => {
    const pos = xs.filter((x): x is number => x !== null && x > 0);
    return pos.length ? Math.log10(Math.max(...pos) / Math.min(...pos)) : 0;
  };
  const varLog = spanDecades(vals('var')) > 1.3;
  const side = (rows: string[]) => Array.from({ length: h }, (_, i) => pad(rows[i] ?? '', sideW));
  const lab = `L${p.cursor}/${L.length - 1}`;
  const charts = [
    { q: 'var' as const, title: `forward var${varLog ? ' (log)' : ''}`, log: varLog, include: undefined,
      side: side([lab, `var  ${fmt(at?.var)}`, `mean ${fmt(at?.mean)}`, ...(m?.var ? [measText(m.var), errText('var', at?.var, m.var)] : [])]) },
    { q: 'gradVar' as const, title: 'gradient var (log)', log: true, include: undefined,
      side: side([lab, `gVar ${fmt(at?.gradVar)}`, `gR   ${fmt(at?.gradR)}`, ...(m?.gradVar ? [measText(m.gradVar), errText('gradVar', at?.gradVar, m.gradVar)] : [])]) },
    { q: 'r' as const, title: 'token correlation r', log: false, include: [1, 0],
      side: side([lab, `r    ${fmt(at?.r)}`, ...(m?.r ? [measText(m.r), errText('r', at?.r, m.r)] : [])]) },
  ];
  return (
    <Box flexDirection="column" width={p.width} height={p.height}>
      {charts.map((c) => {
        const ch = chart(vals(c.q), { width: plotW, height: h, log: c.log, cursor: p.cursor, overlay: overlayOf(p.measured, c.q), include: c.include });
        return (
          <Box key={c.q} flexDirection="column">
            <Text color={COLORS[c.q]} bold dimColor={p.dim}>{pad(`${c.title}${p.measured ? '  ● measured ±1σ' : ''}`, p.width)}</Text>
            {ch.rows.map((segs, i) => (
              <Box key={i}>
                <Text dimColor>{(i === 0 ? fmt(ch.top, 3) : i === h - 1 ? fmt(ch.bottom, 3) : '').padStart(axisW)}</Text>
                <Text dimColor>│</Text>
                <Segments segs={segs} color={p.dim ? 'gray' : COLORS[c.q]} />
                <Text> {c.side[i]}</Text>
              </Box>
            ))}
          </Box>
        );
      })}
      <Text dimColor>{' '.repeat(axisW)}└{`layer 0`.padEnd(plotW - String(L.length - 1).length)}{L.length - 1}</Text>
    </Box>
  );
}

// ------------------------------------------------------------------------------------- formula

function mom(m: { mean: number; var: number; r: number }): string { return `mean ${fmt(m.mean, 3)} var ${fmt(m.var, 3)} r ${fmt(m.r, 3)}`; }

export function stageDetail(st: StageView, width: number): { text: string; color?: string; bold?: boolean }[] {
  const e = entryOf(st.block);
  const out: { text: string; color?: string; bold?: boolean }[] = [];
  const add = (text: string, color?: string, bold?: boolean) => { for (const l of wrap(text, width)) out.push({ text: l, color, bold }); };
  add(`${st.label} — ${e.block}: ${e.title}`, 'white', true);
  for (const q of stageFormulas(st)) {
    if (q.quantity === 'mean' && q.text === '0' && (q.engine ?? 0) === 0) continue;
    add(`${q.quantity} = ${q.text}${q.when ? `   [${q.when}]` : ''}`, 'cyan');
    const agree = q.value !== undefined && q.engine !== undefined && Math.abs(q.value - q.engine) <= 1e-6 * Math.max(Math.abs(q.engine), 1e-12);
    const val = q.value !== undefined ? `  = ${fmt(q.value)}` : q.unbound.length ? `  (${q.unbound.join(', ')} computed inside the block)` : '';
    add(`${val}${q.engine !== undefined ? `   engine ${fmt(q.engine)}${agree ? ' ✓' : ''}` : ''}${q.variants > 1 ? `   (${q.variants} variants)` : ''}`);
  }
  const syms = Object.entries(st.symbols).map(([k, v]) => `${k}=${Number.isInteger(v) ? v : fmt(v, 3)}`).join(' ');
  add(`with ${syms}`, 'gray');
  add(`in:  ${mom(st.input)}${st.gradIn ? `  ∂ ${fmt(st.gradIn.var, 3)} r_g ${fmt(st.gradIn.r, 3)}` : ''}`);
  add(`out: ${mom(st.output)}${st.gradOut ? `  ∂ ${fmt(st.gradOut.var, 3)} r_g ${fmt(st.gradOut.r, 3)}` : ''}`);
  add(`source: ${e.source}`, 'gray');
  add(`method: ${st.method} · domain: ${e.domain}`, 'gray');
  for (const a of e.assumptions) add(`assumes: ${a}`, 'gray');
  return out;
}

function FormulaView(p: { width: number; height: number; stages: StageView[]; idx: number; layer: number; layers: number; scroll: number }): React.JSX.Element {
  const listW = Math.min(34, Math.floor(p.width * 0.4));
  const detW = p.width - listW - 1;
  if (!p.stages.length) {
    return <Box height={p.height} flexDirection="column"><Text bold color="blue">{`FORMULAS · layer ${p.layer} of ${p.layers}`}</Text><Text>Layer 0 is the model input (no sub-blocks). Press → or l to pick layer 1.</Text></Box>;
  }
  const st = p.stages[p.idx];
  const detail = stageDetail(st, detW);
  const avail = p.height - 1;
  const scroll = clamp(p.scroll, 0, Math.max(0, detail.length - avail));
  const shown = detail.slice(scroll, scroll + avail);
  const listStart = clamp(p.idx - Math.floor(avail / 2), 0, Math.max(0, p.stages.length - avail));
  return (
    <Box height={p.height} flexDirection="column">
      <Text bold color="blue">{pad(`FORMULAS · layer ${p.layer} of ${p.layers}${detail.length > avail ? `   detail ${scroll + 1}-${Math.min(detail.length, scroll + avail)}/${detail.length} ([ ])` : ''}`, p.width)}</Text>
      <Box flexDirection="row">
        <Box flexDirection="column" width={listW} marginRight={1}>
          {p.stages.slice(listStart, listStart + avail).map((s, k) => {
            const i = k + listStart, sel = i === p.idx;
            return <Text key={i} inverse={sel} wrap="truncate">{pad(`${sel ? '▸' : ' '}${s.sub === 'final' ? 'fin ' : s.sub === 'attn' ? 'attn' : 'ffn '} ${s.label.padEnd(10)} v ${fmt(s.output.var, 3)}`, listW)}</Text>;
          })}
        </Box>
        <Box flexDirection="column" width={detW}>
          {shown.map((l, i) => <Text key={i} color={l.color} bold={l.bold} wrap="truncate">{l.text}</Text>)}
        </Box>
      </Box>
    </Box>
  );
}

// ------------------------------------------------------------------------------------- schemes

function SchemesView(p: { width: number; height: number; rows?: SchemeRow[] | { error: string }; idx: number; available: boolean }): React.JSX.Element {
  if (!p.available) {
    return <Box height={p.height} flexDirection="column"><Text bold color="blue">SCHEMES</Text><Text>Named init schemes and the advisor (src/schemes.ts, src/advise.ts) are not available in this build.</Text></Box>;
  }
  if (!p.rows) return <Box height={p.height}><Text>no valid config</Text></Box>;
  if (!Array.isArray(p.rows)) return <Box height={p.height} flexDirection="column"><Text bold color="blue">SCHEMES</Text><Text color="red">{p.rows.error}</Text></Box>;
  const nameW = 13, numW = 10, tailW = 5;
  const sparkW = Math.max(6, Math.floor((p.width - nameW - 4 * numW - 3 - tailW) / 2));
  const head = `${'scheme'.padEnd(nameW)}${'var end'.padStart(numW)}${'max var'.padStart(numW)}${'g0/gN'.padStart(numW)}${'r end'.padStart(numW)}  ${'var (log)'.padEnd(sparkW)} ${'grad var (log)'.padEnd(sparkW)} band`;
  const rows = p.rows;
  const sel = rows[clamp(p.idx, 0, rows.length - 1)];
  const info = sel ? wrap(`${sel.name}: ${sel.title ?? ''}${sel.error ? ' — ' + sel.error : ''}${sel.notes?.length ? ' — ' + sel.notes.join(' · ') : ''}`, p.width) : [];
  const infoRows = Math.min(info.length, Math.max(1, p.height - 2 - rows.length - 1));
  const avail = Math.max(1, p.height - 2 - infoRows);
  const start = clamp(p.idx - Math.floor(avail / 2), 0, Math.max(0, rows.length - avail));
  return (
    <Box height={p.height} flexDirection="column">
      <Text bold color="blue">{pad('SCHEMES — same architecture under each named init (⏎ applies, a advises)', p.width)}</Text>
      <Text dimColor wrap="truncate">{head}</Text>
      {rows.slice(start, start + avail).map((r, k) => {
        const i = k + start, on = i === p.idx;
        const mark = on ? '▸' : ' ';
        if (r.error || !r.pred) return <Text key={r.name} inverse={on} color="red" wrap="truncate">{`${mark}${pad(r.name, nameW - 1)}${r.error ?? 'no prediction'}`}</Text>;
        const L = r.pred.layers, N = L.length - 1;
        const vmax = Math.max(...L.map((l) => l.var ?? 0));
        const g0 = L[0].gradVar, gN = L[N].gradVar;
        const spark = (q: 'var' | 'gradVar') => chart(L.map((l) => l[q]), { width: sparkW, height: 1, log: true }).rows[0].map((x) => x.text).join('');
        const n = (x: number | null | undefined) => fmt(x, 3).padStart(numW);
        return (
          <Box key={r.name} width={p.width}>
            <Text inverse={on} bold={on}>{mark}{pad(r.name, nameW - 1)}</Text>
            <Text>{n(L[N].var)}{n(vmax)}{g0 !== null && gN ? n(g0 / gN) : n(null)}{n(L[N].r)}  </Text>
            <Text color={COLORS.var}>{spark('var')}</Text><Text> </Text>
            <Text color={COLORS.gradVar}>{spark('gradVar')}</Text>
            <Text color={r.ok ? 'green' : 'red'}>{r.ok ? ' ok  ' : ' out '}</Text>
          </Box>
        );
      })}
      {info.slice(0, infoRows).map((l, i) => <Text key={`i${i}`} dimColor wrap="truncate">{l}</Text>)}
    </Box>
  );
}

// ------------------------------------------------------------------------------------- warnings

function WarningsBox(p: { width: number; rows: number; warnings: TuiWarning[]; selected?: number }): React.JSX.Element {
  const sel = p.selected ?? 0;
  const start = clamp(sel - p.rows + 1, 0, Math.max(0, p.warnings.length - p.rows));
  const more = p.warnings.length - p.rows;
  return (
    <Box flexDirection="column" width={p.width}>
      {p.warnings.slice(start, start + p.rows).map((w, k) => {
        const i = k + start;
        const mark = i === p.selected ? '▸' : '⚠';
        const tail = k === p.rows - 1 && more > 0 ? `  (+${more}, w cycles)` : '';
        return <Text key={i} color={w.kind === 'other' ? 'yellow' : 'red'} inverse={i === p.selected} wrap="truncate">{`${mark} ${w.layer !== undefined ? `L${w.layer}`.padEnd(5) : '     '}${kindLabel(w.kind)}: ${w.text}${tail}`}</Text>;
      })}
    </Box>
  );
}

// ------------------------------------------------------------------------------------- help

export const HELP_LINES: [string, string][] = [
  ['↑ ↓  j k', 'profile view: pick a model field · formula view: pick a sub-block · schemes: pick a scheme'],
  ['+ - (space)', 'change the picked field (dims ×2/÷2, stds ×1.26, enums cycle, yes/no toggles)'],
  ['⏎ or digits', 'type a value (⏎ commits, Esc cancels); errors show under the field'],
  ['← → h l', 'move the layer cursor (H L / PgUp PgDn: 10% of depth, g G / Home End: ends)'],
  ['tab  p f s', 'next view · profile · formulas of the picked layer · schemes side by side'],
  ['[ ]', 'scroll the formula detail'],
  ['⏎  a', 'schemes view: apply the picked scheme · apply the advised init'],
  ['w W', 'jump to the next / previous warning (the layer where it starts)'],
  ['v  Esc', 'verify: measure the model in a background process · cancel it'],
  ['?', 'this help (any key closes)'],
  ['q  Ctrl-C', 'quit'],
];

function Help({ width, height }: { width: number; height: number }): React.JSX.Element {
  const kw = 14;
  const lines: React.JSX.Element[] = [];
  for (const [k, d] of HELP_LINES) {
    wrap(d, width - kw - 4).forEach((l, i) => lines.push(<Box key={`${k}${i}`}><Text color="cyan">{(i ? '' : k).padEnd(kw)}</Text><Text>{l}</Text></Box>));
  }
  return (
    <Box flexDirection="column" width={width} height={height} borderStyle="round" borderColor="blue" paddingX={1}>
      <Text bold color="blue">signal-moments TUI — keys</Text>
      {lines.slice(0, height - 5)}
      <Text dimColor>Charts: forward var (log when it spans decades), gradient var (log), token correlation r; ▌ cursor = picked layer; yellow = measured ±1σ.</Text>
    </Box>
  );
}
