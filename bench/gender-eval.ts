/**
 * Gender (and emotion-model status) evaluation on every labelled clip in ../shared/speech.
 *
 *   nice -n 10 npx tsx bench/gender-eval.ts [--speed] [--json out.json]
 *
 * Each clip goes through the analysis task the `gender` stage uses (YIN f0 + LPC formant spacing +
 * naive-Bayes decision, pipeline/voice/) on the whole file, as the stage does for an undiarized
 * request. Sets are split into the development sets (licences that allow shipping derived
 * parameters: the two spreads in voice/gender.ts were chosen on these) and held-out sets
 * (evaluation only: RAVDESS CC BY-NC-SA, Emo-DB no licence, RESPIN unverified licence).
 *
 * Also reported: an ablation (each clip decided by the f0 cue alone and by the ΔF cue alone, same
 * class model) and the calibration of the confidence (log-loss and Brier score of p(female), mean
 * confidence of the wrong decisions), for dev, held-out and all clips.
 *
 * --speed also times the pitch tracker against `pitchfinder`'s YIN (GPL-3.0, so not a dependency:
 * it is used only if you installed it yourself, e.g. `npm i --no-save pitchfinder`).
 *
 * Also exports `run(ctx)` as a bench/run.ts section ("gender").
 */
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { SHARED_DIR, type BenchContext, type BenchSection } from './lib.ts';
import { runTask, type GenderTaskOutput } from '../src/pipeline/analysis/tasks.ts';
import { yin } from '../src/pipeline/voice/yin.ts';
import { findEmotionModel } from '../src/pipeline/stages/emotion.ts';
import { genderStage } from '../src/pipeline/stages/gender.ts';
import { Pipeline, baseTranscript } from '../src/pipeline/pipeline.ts';
import { InlineAnalysis } from '../src/pipeline/analysis/pool.ts';
import { DEFAULT_OPTIONS, StageState, type SpeakerTurn } from '../src/pipeline/types.ts';
import { EMOTION_MODEL } from '../src/pipeline/voice/emotion.ts';
import { classifyGender } from '../src/pipeline/voice/gender.ts';

const require = createRequire(import.meta.url);

export const DEV_SETS = ['en_jfk', 'en_ljspeech', 'telephony_8k_en_asterisk', 'multilingual_asterisk'];
export const HELD_OUT_SETS = ['emotion_ravdess', 'emotion_emodb_de', 'multilingual_indic_respin'];

interface Row {
  set: string;
  id: string;
  truth: string;
  predicted: string | null;
  confidence: number;
  f0: number;
  formantSpacing: number;
  /** Standard error of the median log ΔF (features.ts). */
  formantSpacingLogSe: number;
  /** log p(x|female) − log p(x|male) of the full decision (NaN when no estimate). */
  llr: number;
  /** Ablation: the decision from one cue alone (same class model, the other cue left out). */
  predictedF0Only: string | null;
  predictedFormantOnly: string | null;
  seconds: number;
  ms: number;
}

function readWav(file: string): Float32Array {
  const w = require('sherpa-onnx-node').readWave(file) as { samples: Float32Array; sampleRate: number };
  if (w.sampleRate !== 16000) throw new Error(`${file}: ${w.sampleRate} Hz, expected 16000`);
  return w.samples;
}

function labelled(set: string, shared: string): Array<{ id: string; file: string; gender: string }> {
  const dir = path.join(shared, 'speech', set);
  const man = path.join(dir, 'manifest.jsonl');
  if (!fs.existsSync(man)) return [];
  return fs
    .readFileSync(man, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; audio: string; gender?: string })
    .filter((c) => c.gender === 'male' || c.gender === 'female')
    .map((c) => ({ id: c.id, file: path.join(dir, c.audio), gender: c.gender! }));
}

export async function evaluate(shared = SHARED_DIR, log: (m: string) => void = console.log): Promise<Row[]> {
  const rows: Row[] = [];
  for (const set of [...DEV_SETS, ...HELD_OUT_SETS]) {
    for (const c of labelled(set, shared)) {
      const pcm = readWav(c.file);
      const t0 = performance.now();
      const seconds = pcm.length / 16000;
      const [r] = (await runTask({ task: 'gender', input: { groups: [[pcm]] } })) as GenderTaskOutput;
      const ms = performance.now() - t0;
      const f = r.features;
      const f0Only = classifyGender({ ...f, formantFrames: 0 });
      // ΔF alone: the f0 term is removed by giving f0 the geometric mean of the two class means (LLR 0).
      const dfOnly = f.formantFrames > 0 && Number.isFinite(f.formantSpacing) ? classifyGender({ ...f, f0: Math.sqrt(120 * 210) }) : null;
      rows.push({
        set,
        id: c.id,
        truth: c.gender,
        predicted: r.decision?.gender ?? null,
        confidence: r.decision?.confidence ?? 0,
        f0: r.features.f0,
        formantSpacing: r.features.formantSpacing,
        formantSpacingLogSe: r.features.formantSpacingLogSe,
        llr: r.decision?.llr ?? NaN,
        predictedF0Only: f0Only?.gender ?? null,
        predictedFormantOnly: dfOnly?.gender ?? null,
        seconds,
        ms,
      });
    }
    log(`${set}: done`);
  }
  return rows;
}

function acc(rows: Row[], key: 'predicted' | 'predictedF0Only' | 'predictedFormantOnly' = 'predicted'): [number, number] {
  return [rows.filter((r) => r[key] === r.truth).length, rows.length];
}

/**
 * Calibration of the confidence: mean log-loss (nats) and Brier score of p(female) = sigmoid(LLR),
 * and the mean confidence of wrong decisions. Clips without an estimate count as p = 0.5.
 */
function calibration(rows: Row[]): { logLoss: number; brier: number; confWrong: number } {
  let ll = 0, br = 0, cw = 0, nw = 0;
  for (const r of rows) {
    const p = Number.isFinite(r.llr) ? Math.min(1 - 1e-6, Math.max(1e-6, 1 / (1 + Math.exp(-r.llr)))) : 0.5;
    const y = r.truth === 'female' ? 1 : 0;
    ll -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
    br += (p - y) ** 2;
    if (r.predicted !== r.truth) {
      cw += r.confidence;
      nw++;
    }
  }
  const n = Math.max(1, rows.length);
  return { logLoss: ll / n, brier: br / n, confWrong: nw ? cw / nw : NaN };
}

export function summarize(rows: Row[]): { table: (string | number)[][]; metrics: Record<string, number> } {
  const table: (string | number)[][] = [];
  const metrics: Record<string, number> = {};
  for (const set of [...DEV_SETS, ...HELD_OUT_SETS]) {
    const rs = rows.filter((r) => r.set === set);
    if (!rs.length) continue;
    const [ok, n] = acc(rs);
    const m = rs.filter((r) => r.truth === 'male');
    const f = rs.filter((r) => r.truth === 'female');
    table.push([set, DEV_SETS.includes(set) ? 'dev' : 'held-out', n, `${ok}/${n}`, +(ok / n).toFixed(3), m.length ? `${acc(m)[0]}/${m.length}` : '-', f.length ? `${acc(f)[0]}/${f.length}` : '-', +(rs.filter((r) => r.predicted === null).length), `${acc(rs, 'predictedF0Only')[0]}/${n}`, `${acc(rs, 'predictedFormantOnly')[0]}/${n}`]);
    metrics[`accuracy_${set}`] = ok / n;
  }
  const dev = rows.filter((r) => DEV_SETS.includes(r.set));
  const held = rows.filter((r) => HELD_OUT_SETS.includes(r.set));
  metrics.accuracy_dev = acc(dev)[0] / Math.max(1, dev.length);
  metrics.accuracy_held_out = acc(held)[0] / Math.max(1, held.length);
  metrics.accuracy_overall = acc(rows)[0] / Math.max(1, rows.length);
  for (const [name, rs] of [['dev', dev], ['held_out', held], ['overall', rows]] as const) {
    metrics[`ablation_f0_only_${name}`] = acc(rs, 'predictedF0Only')[0] / Math.max(1, rs.length);
    metrics[`ablation_formant_only_${name}`] = acc(rs, 'predictedFormantOnly')[0] / Math.max(1, rs.length);
    const c = calibration(rs);
    metrics[`log_loss_${name}`] = c.logLoss;
    metrics[`brier_${name}`] = c.brier;
    metrics[`confidence_when_wrong_${name}`] = c.confWrong;
  }
  metrics.clips = rows.length;
  const secs = rows.reduce((a, r) => a + r.seconds, 0);
  metrics.ms_per_audio_second = rows.reduce((a, r) => a + r.ms, 0) / Math.max(1e-9, secs);
  return { table, metrics };
}

export interface SpeakerRow {
  clip: string;
  speaker: string;
  truth: 'male' | 'female';
  predicted: string | null;
  confidence: number;
  seconds: number;
}

/**
 * Per-speaker gender through the stage itself, with the reference diarization (RTTM turns) of the
 * AMI clips in diar_pyannote: AMI speaker ids start with F or M (the corpus's own gender code).
 * Meeting speech with overlaps: each speaker's turns include whatever overlaps them.
 */
export async function evaluateSpeakers(shared = SHARED_DIR): Promise<SpeakerRow[]> {
  const dir = path.join(shared, 'speech', 'diar_pyannote');
  if (!fs.existsSync(dir)) return [];
  const out: SpeakerRow[] = [];
  const stage = new Pipeline([genderStage()]);
  const engine = { name: 'eval', languages: ['en'], streaming: false, wordTimestamps: true, wordConfidence: false };
  for (const f of fs.readdirSync(path.join(dir, 'rttm')).filter((x) => x.startsWith('ami') && x.endsWith('.rttm')).sort()) {
    const id = f.replace(/\.rttm$/, '');
    const names: string[] = [];
    const turns: SpeakerTurn[] = [];
    for (const line of fs.readFileSync(path.join(dir, 'rttm', f), 'utf8').split('\n')) {
      const p = line.trim().split(/\s+/);
      if (p[0] !== 'SPEAKER') continue;
      const name = p[7].normalize('NFD').replace(/[\u0300-\u036f]/g, '');
      if (!names.includes(name)) names.push(name);
      turns.push({ start: +p[3], end: +p[3] + +p[4], speaker: names.indexOf(name) });
    }
    const pcm = readWav(path.join(dir, 'wav16k', `${id}.wav`));
    const t0 = baseTranscript({ words: [], text: '', language: 'en', duration: pcm.length / 16000 });
    const t = await stage.run({ ...t0, turns }, { mode: 'batch', partial: false, options: { ...DEFAULT_OPTIONS, genderDetection: true }, audio: { pcm, offset: 0, sampleRate: 16000 }, state: new StageState(), analysis: new InlineAnalysis(), engine });
    names.forEach((name, k) => {
      const est = t.gender?.bySpeaker?.[k];
      const seconds = turns.filter((x) => x.speaker === k).reduce((a, x) => a + x.end - x.start, 0);
      out.push({ clip: id, speaker: name, truth: name.startsWith('F') ? 'female' : 'male', predicted: est?.gender ?? null, confidence: est?.confidence ?? 0, seconds });
    });
  }
  return out;
}

/** ms per second of audio: this YIN vs pitchfinder's YIN (if installed) on the same 30 ms/10 ms frames. */
export async function speed(pcm: Float32Array): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  yin(pcm.subarray(0, 16000)); // warm up
  let t0 = performance.now();
  for (let k = 0; k < 3; k++) yin(pcm);
  out.yin_ms_per_audio_second = (performance.now() - t0) / 3 / (pcm.length / 16000);
  try {
    const pf = (await import('pitchfinder' as string)) as { YIN: (o: object) => (b: Float32Array) => number | null };
    const detect = pf.YIN({ sampleRate: 16000, threshold: 0.15 });
    // Same analysis span as ours (W + τmax = 480 + 267 samples → pitchfinder halves a 1024 buffer: W = τmax = 512).
    const frame = 1024;
    t0 = performance.now();
    for (let s = 0; s + frame <= pcm.length; s += 160) detect(pcm.subarray(s, s + frame));
    out.pitchfinder_yin_ms_per_audio_second = (performance.now() - t0) / (pcm.length / 16000);
  } catch {
    out.pitchfinder_yin_ms_per_audio_second = NaN;
  }
  return out;
}

export async function run(ctx: BenchContext): Promise<BenchSection> {
  const rows = await evaluate(ctx.sharedDir, ctx.log);
  const { table, metrics } = summarize(rows);
  const spk = await evaluateSpeakers(ctx.sharedDir);
  metrics.accuracy_per_speaker_ami = spk.filter((r) => r.predicted === r.truth).length / Math.max(1, spk.length);
  metrics.speakers_ami = spk.length;
  const jfk = labelled('en_jfk', ctx.sharedDir)[0];
  if (jfk) Object.assign(metrics, await speed(readWav(jfk.file)));
  const emotion = findEmotionModel();
  return {
    name: 'gender',
    metrics: { ...metrics, emotion_model_installed: !!emotion },
    tables: [{ title: 'Gender accuracy by set (whole-file estimate)', columns: ['set', 'split', 'clips', 'correct', 'accuracy', 'male', 'female', 'no estimate', 'f0 only', 'ΔF only'], rows: table }],
    notes: [
      'dev sets (PD / CC-BY / CC-BY-SA) chose the two spreads of the classifier; held-out sets were never used to choose anything.',
      emotion ? `emotion model ${EMOTION_MODEL} installed` : `emotion model ${EMOTION_MODEL} not installed: no emotion accuracy measured (cochlea models pull ${EMOTION_MODEL})`,
    ],
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const rows = await evaluate();
  const { table, metrics } = summarize(rows);
  console.log('\nset | split | clips | correct | accuracy | male | female | no estimate | f0 only | ΔF only');
  for (const r of table) console.log(r.join(' | '));
  for (const [k, v] of Object.entries(metrics)) if (!k.startsWith('accuracy_') || !k.includes('_', 9) || k === 'accuracy_held_out') console.log(`${k}: ${typeof v === 'number' ? +v.toFixed(4) : v}`);
  console.log(`accuracy_dev: ${metrics.accuracy_dev.toFixed(4)}  accuracy_held_out: ${metrics.accuracy_held_out.toFixed(4)}`);
  console.log('\nerrors:');
  for (const r of rows.filter((r) => r.predicted !== r.truth)) console.log(`  ${r.set} ${r.id} truth=${r.truth} got=${r.predicted} conf=${r.confidence} f0=${r.f0.toFixed(0)} dF=${r.formantSpacing.toFixed(0)} seLogDF=${r.formantSpacingLogSe.toFixed(3)}`);
  const spk = await evaluateSpeakers();
  const ok = spk.filter((r) => r.predicted === r.truth).length;
  console.log(`\nper speaker (AMI clips, reference RTTM turns, through the gender stage): ${ok}/${spk.length}`);
  for (const r of spk) console.log(`  ${r.clip} ${r.speaker} ${r.seconds.toFixed(1)} s truth=${r.truth} got=${r.predicted} conf=${r.confidence}`);
  if (args.includes('--speed')) {
    const jfk = labelled('en_jfk', SHARED_DIR)[0];
    console.log('\nspeed (en_jfk, 11 s):', await speed(readWav(jfk.file)));
  }
  const emotion = findEmotionModel();
  console.log(`\nemotion model ${EMOTION_MODEL}: ${emotion ? 'installed' : 'NOT installed (no emotion accuracy can be measured here)'}`);
  const j = args.indexOf('--json');
  if (j >= 0 && args[j + 1]) fs.writeFileSync(args[j + 1], JSON.stringify({ metrics, rows }, null, 2));
}
