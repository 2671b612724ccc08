/**
 * Diarization evaluation over the shared sets (../shared/speech), batch and real time.
 *
 *   nice -n 10 npx tsx bench/diarization-eval.ts [--json out.json] [--no-silero]
 *
 * Files: diar_pyannote (7 clips with RTTM), diar_misc stereo clip (reference from each channel's
 * energy), a 3-speaker conversation concatenated from LibriSpeech/LJSpeech clips (reference = clip
 * spans), and diar_misc's Picovoice clip (3 speakers, no times: speaker count only).
 * DER with md-eval semantics (src/pipeline/speakers/der.ts): missed speech + false alarm + confusion
 * over reference speaker time, overlap scored, collar 0.25 s (and 0 s, the setting of pyannote's
 * published tables). Real time is simulated as the server runs it: the audio is cut into "finals"
 * at pauses ≥ 0.5 s (what the engine endpointer does) and each final is diarized in order by the
 * online scheme with the session state carried over.
 */
import fs from 'node:fs';
import path from 'node:path';
import { diarizeClassical } from '../src/pipeline/speakers/classical.ts';
import { diarizationErrorRate, pooledDer, type DerResult, type LabelledSegment } from '../src/pipeline/speakers/der.ts';
import { diarizeOnline, newOnlineState, type OnlineState } from '../src/pipeline/speakers/online.ts';
import { energyMask, maskToRegions } from '../src/pipeline/speakers/speech.ts';
import { mfcc } from '../src/pipeline/dsp/mfcc.ts';
import { SILERO_VAD, loadSet } from '../test/helpers/speech.ts';
import { readWav16k, rttmClips, stereoClip, threeSpeakerConversation, type Conversation } from '../test/pipeline/diarization-data.ts';

const args = process.argv.slice(2);
const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
/** Tuning overrides (JSON): DIAR_BATCH for the batch diarizer, DIAR_ONLINE for the real-time scheme. */
const batchOpts = JSON.parse(process.env.DIAR_BATCH ?? '{}');
const onlineOpts = JSON.parse(process.env.DIAR_ONLINE ?? '{}');
const modes = (args.includes('--only') ? [args[args.indexOf('--only') + 1]] : ['batch', 'realtime']) as ('batch' | 'realtime')[];
const vads: (string | undefined)[] = [undefined];
if (!args.includes('--no-silero') && fs.existsSync(SILERO_VAD)) vads.push(SILERO_VAD);

interface Item extends Conversation {
  scored: boolean;
}

const items: Item[] = [
  ...rttmClips().map((c) => ({ id: c.id, pcm: readWav16k(c.audio), ref: c.ref, speakers: new Set(c.ref.map((r) => r.speaker)).size, scored: true })),
  { ...stereoClip(), scored: true },
  { ...threeSpeakerConversation(), scored: true },
];
const pico = loadSet('diar_misc').find((c) => c.id === 'picovoice_diarization_test');
if (pico) items.push({ id: pico.id, pcm: readWav16k(pico.audio), ref: [], speakers: Number(pico.num_speakers), scored: false });

/** Cut into pseudo-finals at pauses ≥ 0.5 s (energy), at most 15 s each. */
function finals(pcm: Float32Array): { start: number; end: number }[] {
  const f = mfcc(pcm);
  const regions = maskToRegions(energyMask(f.logEnergy));
  const out: { start: number; end: number }[] = [];
  for (const r of regions) {
    const last = out[out.length - 1];
    if (last && r.start - last.end < 0.5 && r.end - last.start <= 15) last.end = r.end;
    else out.push({ ...r });
  }
  return out.map((r) => ({ start: Math.max(0, r.start - 0.1), end: Math.min(pcm.length / 16000, r.end + 0.1) }));
}

function runRealtime(pcm: Float32Array, vadModel?: string): { turns: LabelledSegment[]; speakers: number; ms: number; stateBytes: number } {
  let state: OnlineState = newOnlineState();
  const turns: LabelledSegment[] = [];
  let ms = 0;
  let speakers = 0;
  for (const seg of finals(pcm)) {
    const a = Math.floor(seg.start * 16000);
    const b = Math.ceil(seg.end * 16000);
    const t0 = performance.now();
    const r = diarizeOnline(pcm.slice(a, b), a / 16000, [], state, { vadModel, ...onlineOpts });
    ms += performance.now() - t0;
    state = r.state;
    speakers = r.speakerCount;
    turns.push(...r.turns);
  }
  const stateBytes = [...state.speakers, ...(state.pieces ?? []), ...(state.global ? [state.global] : [])].reduce((n, s) => n + s.sum.byteLength + s.sq.byteLength + 16, 0);
  return { turns, speakers, ms, stateBytes };
}

const pct = (x: number) => (100 * x).toFixed(1);
const rows: Record<string, unknown>[] = [];
const pooled: Record<string, DerResult[]> = {};
const pooledMain: Record<string, DerResult[]> = {};
const countErr: Record<string, number[]> = {};
let audioSeconds = 0;
const timeMs: Record<string, number> = {};

for (const vad of vads) {
  const vname = vad ? 'silero' : 'energy';
  for (const mode of modes) {
    const key = `${mode}/${vname}`;
    for (const it of items) {
      const dur = it.pcm.length / 16000;
      let hyp: LabelledSegment[];
      let found: number;
      let ms: number;
      let extra = {};
      if (mode === 'batch') {
        const t0 = performance.now();
        const r = diarizeClassical(it.pcm, { vadModel: vad, ...batchOpts });
        ms = performance.now() - t0;
        hyp = r.turns;
        found = r.speakerCount;
      } else {
        const r = runRealtime(it.pcm, vad);
        ms = r.ms;
        hyp = r.turns;
        found = r.speakers;
        extra = { stateBytes: r.stateBytes };
      }
      timeMs[key] = (timeMs[key] ?? 0) + ms;
      if (vad === vads[0] && mode === modes[0]) audioSeconds += dur;
      (countErr[key] ??= []).push(found - it.speakers);
      const row: Record<string, unknown> = { key, id: it.id, seconds: dur, refSpeakers: it.speakers, hypSpeakers: found, ms: Math.round(ms), ...extra };
      if (it.scored) {
        const d25 = diarizationErrorRate(it.ref, hyp, 0.25, dur);
        const d0 = diarizationErrorRate(it.ref, hyp, 0, dur);
        (pooled[key] ??= []).push(d25);
        (pooled[`${key}/collar0`] ??= []).push(d0);
        // Main pool: files whose reference covers their audible speech (see the report on trn01/trn02).
        if (!/trn0[12]$/.test(it.id)) (pooledMain[key] ??= []).push(d25), (pooledMain[`${key}/collar0`] ??= []).push(d0);
        Object.assign(row, { der: d25.der, miss: d25.miss / d25.total, fa: d25.falseAlarm / d25.total, conf: d25.confusion / d25.total, refSpeech: d25.total, der0: d0.der });
        console.log(`${key.padEnd(16)} ${it.id.padEnd(34)} DER ${pct(d25.der).padStart(6)}  miss ${pct(d25.miss / d25.total).padStart(5)}  FA ${pct(d25.falseAlarm / d25.total).padStart(6)}  conf ${pct(d25.confusion / d25.total).padStart(5)}  (collar 0: ${pct(d0.der)})  speakers ${it.speakers}→${found}  ${Math.round(ms)} ms`);
      } else {
        console.log(`${key.padEnd(16)} ${it.id.padEnd(34)} speakers ${it.speakers}→${found}  ${Math.round(ms)} ms`);
      }
      rows.push(row);
    }
  }
}

console.log('\npooled (time-weighted)');
const summary: Record<string, unknown> = {};
for (const [name, pool] of [['all', pooled], ['main', pooledMain]] as const) {
  for (const [k, rs] of Object.entries(pool)) {
    const p = pooledDer(rs);
    summary[`${name}:${k}`] = p;
    console.log(`${name.padEnd(5)} ${k.padEnd(26)} DER ${pct(p.der).padStart(6)}  miss ${pct(p.miss / p.total).padStart(5)}  FA ${pct(p.falseAlarm / p.total).padStart(6)}  conf ${pct(p.confusion / p.total).padStart(5)}`);
  }
}
console.log('\nspeaker count error (hyp − ref) per file, and mean |error|');
for (const [k, e] of Object.entries(countErr)) console.log(`${k.padEnd(16)} ${JSON.stringify(e)}  mean |e| ${(e.reduce((a, x) => a + Math.abs(x), 0) / e.length).toFixed(2)}  exact ${e.filter((x) => x === 0).length}/${e.length}`);
console.log('\ncost (one core, this machine, nice 10)');
for (const [k, ms] of Object.entries(timeMs)) {
  const perMin = ms / 1000 / (audioSeconds / 60);
  console.log(`${k.padEnd(16)} ${perMin.toFixed(2)} s per minute of audio (${(audioSeconds / (ms / 1000)).toFixed(1)}× real time); vs recognition at 5× real time (12 s/min): +${((100 * perMin) / 12).toFixed(0)}%`);
}
// Cost on a long file: the clips above concatenated up to 10 minutes (AHC is quadratic in the
// number of segments, so a 1-minute average would understate long files).
if (args.includes('--long')) {
  const parts: Float32Array[] = [];
  let n = 0;
  while (n < 600 * 16000) for (const it of items) if (n < 600 * 16000) (parts.push(it.pcm), (n += it.pcm.length));
  const long = new Float32Array(n);
  let o = 0;
  for (const p of parts) (long.set(p, o), (o += p.length));
  for (const vad of vads) {
    const t0 = performance.now();
    const r = diarizeClassical(long, { vadModel: vad, ...batchOpts });
    const s = (performance.now() - t0) / 1000;
    const rt = runRealtime(long, vad);
    console.log(`long session ${(n / 16000 / 60).toFixed(1)} min, realtime/${vad ? 'silero' : 'energy'}: ${(rt.ms / 1000).toFixed(1)} s (${(rt.ms / 1000 / (n / 16000 / 60)).toFixed(2)} s per minute), ${rt.speakers} speakers, session state ${(rt.stateBytes / 1024).toFixed(0)} kB`);
    console.log(`long file ${(n / 16000 / 60).toFixed(1)} min, batch/${vad ? 'silero' : 'energy'}: ${s.toFixed(1)} s (${(s / (n / 16000 / 60)).toFixed(2)} s per minute; +${((100 * s) / ((12 * n) / 16000 / 60)).toFixed(0)}% on recognition at 5× real time), ${r.segments} segments, ${r.speakerCount} speakers, rss ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MB`);
  }
}
if (jsonOut) fs.writeFileSync(path.resolve(jsonOut), JSON.stringify({ rows, summary, countErr, timeMs, audioSeconds }, null, 2));
