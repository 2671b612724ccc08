import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AnalysisPool, InlineAnalysis, Pipeline, StageState, DEFAULT_OPTIONS, type StageContext, type Transcript, type TranscriptionOptions } from '../../src/pipeline/index.ts';
import { baseTranscript } from '../../src/pipeline/pipeline.ts';
import { diarizationStage } from '../../src/pipeline/stages/diarization.ts';
import { TranscriptionService } from '../../src/pipeline/service.ts';
import type { Engine } from '../../src/engines/types.ts';
import { utteranceStage } from '../../src/pipeline/stages/utterances.ts';
import { diarizationErrorRate, parseRttm } from '../../src/pipeline/speakers/der.ts';
import { frameCount, logMel, mfcc } from '../../src/pipeline/dsp/mfcc.ts';
import { energyMask, maskToRegions } from '../../src/pipeline/speakers/speech.ts';
import { REPO_ROOT, SHARED_DIR, SILERO_VAD, loadSet, skipWithoutShared } from '../helpers/speech.ts';
import { readWav16k, rttmClips, threeSpeakerConversation } from './diarization-data.ts';

const skip = skipWithoutShared('diarization');
const engine = { name: 'scripted' } as unknown as StageContext['engine'];
const analysis = new InlineAnalysis();
const opts = (o: Partial<TranscriptionOptions> = {}): TranscriptionOptions => ({ ...DEFAULT_OPTIONS, punctuate: false, capitalize: false, diarize: true, wordTimestamps: true, utterances: true, ...o });
const ctx = (pcm: Float32Array, mode: 'batch' | 'realtime', state = new StageState(), offset = 0, o = opts()): StageContext => ({
  mode,
  partial: false,
  options: o,
  audio: { pcm, offset, sampleRate: 16000 },
  state,
  analysis,
  engine,
});
/** Words of a reference segment list: each segment's span cut into equal word slots. */
function wordsOf(segs: { start: number; end: number; text: string }[]) {
  return segs.flatMap((s) => {
    const ws = s.text.split(/\s+/).filter(Boolean);
    const d = (s.end - s.start) / ws.length;
    return ws.map((w, i) => ({ word: w, start: s.start + i * d, end: s.start + (i + 1) * d - 0.02, confidence: 0.9 }));
  });
}

test('DER scorer follows md-eval: miss, false alarm, confusion, optimal mapping, collar, overlap', () => {
  const ref = [
    { start: 0, end: 10, speaker: 'A' },
    { start: 10, end: 20, speaker: 'B' },
  ];
  assert.equal(diarizationErrorRate(ref, [{ start: 0, end: 10, speaker: 7 }, { start: 10, end: 20, speaker: 3 }], 0).der, 0, 'labels are mapped, not compared');
  const conf = diarizationErrorRate(ref, [{ start: 0, end: 15, speaker: 1 }, { start: 15, end: 20, speaker: 2 }], 0);
  assert.equal(conf.confusion, 5);
  assert.equal(conf.der, 0.25);
  const miss = diarizationErrorRate(ref, [{ start: 0, end: 10, speaker: 1 }], 0);
  assert.deepEqual([miss.miss, miss.falseAlarm, miss.confusion, miss.der], [10, 0, 0, 0.5]);
  const fa = diarizationErrorRate(ref, [{ start: 0, end: 10, speaker: 1 }, { start: 10, end: 25, speaker: 2 }], 0);
  assert.equal(fa.falseAlarm, 5);
  // Collar: a boundary 0.2 s off is forgiven with a 0.25 s collar, not without one.
  const off = [{ start: 0, end: 10.2, speaker: 1 }, { start: 10.2, end: 20, speaker: 2 }];
  assert.equal(diarizationErrorRate(ref, off, 0.25).der, 0);
  assert.ok(diarizationErrorRate(ref, off, 0).confusion > 0.19);
  // Overlap: two reference speakers at once, one hypothesis speaker → one missed speaker there.
  const ov = diarizationErrorRate([{ start: 0, end: 10, speaker: 'A' }, { start: 5, end: 10, speaker: 'B' }], [{ start: 0, end: 10, speaker: 0 }], 0);
  assert.deepEqual([ov.total, ov.miss, ov.der], [15, 5, 5 / 15]);
  assert.deepEqual(parseRttm('SPEAKER f 1 1.5 2.0 <NA> <NA> spk1 <NA> <NA>\n'), [{ start: 1.5, end: 3.5, speaker: 'spk1' }]);
});

test('MFCC front end: frame count, and a tone lands in the right mel band', () => {
  assert.equal(frameCount(16000), 98);
  const tone = Float32Array.from({ length: 16000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 1000 * i) / 16000));
  const fb = mfcc(tone, { numCeps: 13 });
  assert.equal(fb.frames, 98);
  assert.equal(fb.dims, 13);
  // 1 kHz is 1000 mel; 40 bands evenly spaced on 20..7800 Hz in mel put it in band 13 or 14.
  const mel = logMel(tone);
  const row = Array.from(mel.data.subarray(40 * 50, 40 * 51));
  const peak = row.indexOf(Math.max(...row));
  assert.ok(peak === 13 || peak === 14, `peak band ${peak}`);
  const silence = new Float32Array(16000);
  const m = energyMask(mfcc(Float32Array.from([...silence, ...tone, ...silence])).logEnergy);
  const r = maskToRegions(m);
  assert.equal(r.length, 1, JSON.stringify(r));
  assert.ok(Math.abs(r[0].start - 1) < 0.05 && Math.abs(r[0].end - 2) < 0.15, JSON.stringify(r));
});

test('batch, two speakers (pyannote sample call): 2 speakers, DER under the bound, words and utterances carry speakers', { skip }, async () => {
  const clip = loadSet('diar_pyannote').find((c) => c.id === 'sample')!;
  const ref = rttmClips().find((c) => c.id === 'sample')!.ref;
  const pcm = readWav16k(clip.audio);
  const words = wordsOf(clip.segments as { start: number; end: number; text: string }[]);
  const pipeline = new Pipeline([diarizationStage({ vadModel: SILERO_VAD }), utteranceStage({ gapSeconds: 0.8, maxSeconds: 30 })]);
  const t = await pipeline.run({ words, text: '', language: 'en', duration: 30 }, ctx(pcm, 'batch'));
  assert.deepEqual(t.warnings, []);
  assert.equal(t.speakerCount, 2);
  // Measured 4.2% (Silero VAD, collar 0.25 s; bench/diarization-eval.ts); the bound leaves room for
  // onnxruntime/libm differences across machines, not for a regression to a wrong speaker count.
  const der = diarizationErrorRate(ref, t.turns!, 0.25, 30);
  assert.ok(der.der < 0.12, `DER ${der.der}`);
  assert.ok(t.words.every((w) => Number.isInteger(w.speaker) && w.speaker! >= 0 && w.speaker! < 2));
  const confs = new Set(t.words.map((w) => w.speakerConfidence));
  assert.ok(confs.size > 5, 'speaker confidence is a margin, not a constant');
  assert.ok(t.words.every((w) => w.speakerConfidence! >= 0 && w.speakerConfidence! <= 1));
  // Words agree with the reference speaker of their segment (after the best label mapping).
  const segs = clip.segments as { speaker: string; start: number; end: number; text: string }[];
  const refOf = segs.flatMap((s) => s.text.split(/\s+/).filter(Boolean).map(() => s.speaker));
  const agree = (map: Record<string, number>) => t.words.filter((w, i) => map[refOf[i]] === w.speaker).length / t.words.length;
  const acc = Math.max(agree({ Diane: 0, Sheila: 1 }), agree({ Diane: 1, Sheila: 0 }));
  assert.ok(acc > 0.85, `word speaker accuracy ${acc}`);
  // Utterances break at speaker changes and carry the speaker.
  assert.ok(t.utterances.length >= 6);
  for (const u of t.utterances) assert.ok(Number.isInteger(u.speaker));
  assert.ok(new Set(t.utterances.map((u) => u.speaker)).size === 2);
});

test('batch, three speakers: Picovoice clip gets 3 speakers; a 3-speaker conversation gets 3 ± 1 and DER under the bound', { skip }, async () => {
  const pico = loadSet('diar_misc').find((c) => c.id === 'picovoice_diarization_test')!;
  const stage = diarizationStage({});
  const base = (d: number): Transcript => baseTranscript({ words: [], text: '', language: 'en', duration: d });
  const p = await stage.run(base(19.8), ctx(readWav16k(pico.audio), 'batch'));
  assert.equal(p.speakerCount, 3);
  assert.deepEqual([...new Set(p.turns!.map((x) => x.speaker))].sort(), [0, 1, 2], 'labels are 0..K-1, in order of appearance');
  assert.equal(p.turns![0].speaker, 0);
  const conv = threeSpeakerConversation();
  const t = await stage.run(base(conv.pcm.length / 16000), ctx(conv.pcm, 'batch'));
  // Measured: 4 speakers found (LJSpeech split in two), DER 14.1% (energy VAD, collar 0.25 s).
  assert.ok(Math.abs(t.speakerCount! - 3) <= 1, `speakers ${t.speakerCount}`);
  const der = diarizationErrorRate(conv.ref, t.turns!, 0.25);
  assert.ok(der.der < 0.22, `DER ${der.der}`);
});

test('real time: a session keeps labels stable, a new voice gets a new label when it appears, DER under the bound', { skip }, async () => {
  const conv = threeSpeakerConversation();
  // Finals as the engine endpointer would cut them: at pauses of at least 0.3 s.
  const regions = maskToRegions(energyMask(mfcc(conv.pcm).logEnergy));
  const finals: { start: number; end: number }[] = [];
  for (const r of regions) {
    const last = finals[finals.length - 1];
    if (last && r.start - last.end < 0.3) last.end = r.end;
    else finals.push({ ...r });
  }
  assert.ok(finals.length >= 8);
  const stage = diarizationStage({});
  const state = new StageState();
  const turns: { start: number; end: number; speaker: number }[] = [];
  const seen: number[] = [];
  let prevCount = 0;
  for (const f of finals) {
    const a = Math.floor(f.start * 16000);
    const pcm = conv.pcm.slice(a, Math.ceil(f.end * 16000));
    const words = [{ word: 'w', start: f.start + 0.05, end: Math.min(f.end, f.start + 0.5), confidence: 1 }];
    const t = await stage.run(baseTranscript({ words, text: 'w', language: 'en', duration: f.end - f.start, start: f.start, end: f.end }), ctx(pcm, 'realtime', state, a / 16000));
    assert.ok(t.words.every((w) => Number.isInteger(w.speaker) && w.speaker! >= 0 && w.speaker! < t.speakerCount!), 'every final carries speakers');
    assert.ok(t.speakerCount! >= prevCount, 'speaker count never shrinks (no renumbering)');
    prevCount = t.speakerCount!;
    turns.push(...t.turns!);
    seen.push(t.words[0].speaker!);
  }
  // Measured: 4 labels (one voice split, as in batch); the 3 voices must all be found.
  assert.ok(prevCount >= 3 && prevCount <= 4, `speakers ${prevCount}`);
  // Each reference speaker keeps one label through the session.
  const labelsOf = (spk: string | number) =>
    finals
      .map((f, i) => ({ f, l: seen[i] }))
      .filter(({ f }) => conv.ref.some((r) => r.speaker === spk && Math.min(r.end, f.end) - Math.max(r.start, f.start) > 0.5 * (f.end - f.start)))
      .map(({ l }) => l);
  const top = (labels: number[]) => Math.max(...[...new Set(labels)].map((l) => labels.filter((x) => x === l).length));
  for (const spk of new Set(conv.ref.map((r) => r.speaker))) {
    const labels = labelsOf(spk);
    assert.ok(top(labels) / labels.length >= 0.7, `${spk}: labels ${labels} (all finals: ${seen})`);
  }
  // The third voice (LibriSpeech 2412, from 21 s) gets a label no final before it carried.
  const before = new Set(seen.filter((_, i) => finals[i].end <= 20.5));
  const third = labelsOf('2412');
  assert.ok(third.length && third.every((l) => !before.has(l)), `2412: ${third}; before: ${[...before]}`);
  // Measured 18.1% DER (energy, collar 0.25 s, finals at pauses ≥ 0.5 s in the bench; 18.1% with this test's 0.3 s cuts).
  const der = diarizationErrorRate(conv.ref, turns, 0.25);
  assert.ok(der.der < 0.3, `DER ${der.der}`);
});

test('the diarize task runs in the analysis worker pool (Piscina), audio transferred', { skip }, async () => {
  const pool = new AnalysisPool({ threads: 1, idleTimeoutMs: 1000 });
  try {
    const pico = loadSet('diar_misc').find((c) => c.id === 'picovoice_diarization_test')!;
    const pcm = readWav16k(pico.audio);
    const n = pcm.length;
    const c = { ...ctx(pcm, 'batch'), analysis: pool };
    const t = await diarizationStage({}).run(baseTranscript({ words: [{ word: 'and', start: 0.5, end: 0.7, confidence: 1 }], text: 'and', language: 'en', duration: 19.8 }), c);
    assert.equal(t.speakerCount, 3);
    assert.equal(pcm.length, n, 'the caller keeps its audio (a copy is transferred)');
    assert.equal(c.audio!.pcm.length, n);
    assert.equal(t.words[0].speaker, 0);
  } finally {
    await pool.close();
  }
});

test('through TranscriptionService: batch response and a real-time session (session audio, per-session state)', { skip }, async () => {
  const clip = loadSet('diar_pyannote').find((c) => c.id === 'sample')!;
  const pcm = readWav16k(clip.audio);
  const segs = clip.segments as { speaker: string; start: number; end: number; text: string }[];
  const words = wordsOf(segs);
  // The recognizer is replaced by the reference words (this test is about the pipeline flow).
  const recognizer = {
    info: { name: 'reference-words' },
    recognize: async () => ({ words, text: words.map((w) => w.word).join(' '), language: 'en', duration: 30, decodeSeconds: 0 }),
  } as unknown as Engine;
  const pipeline = new Pipeline([diarizationStage({ vadModel: SILERO_VAD }), utteranceStage({ gapSeconds: 0.8, maxSeconds: 30 })]);
  const service = new TranscriptionService(recognizer, pipeline, analysis);
  const t = await service.transcribe(pcm, opts());
  assert.equal(t.speakerCount, 2);
  assert.ok(t.utterances.every((u) => u.speaker === 0 || u.speaker === 1));
  assert.ok(t.timings.diarization > 0);
  // Real time: audio arrives in 100 ms chunks; each reference segment is a final.
  const session = service.session(opts());
  let pushed = 0;
  const labels: number[] = [];
  for (const seg of segs) {
    const until = Math.ceil(seg.end * 16000);
    for (; pushed < until; pushed += 1600) session.pushAudio(pcm.subarray(pushed, Math.min(until, pushed + 1600)));
    pushed = Math.max(pushed, until);
    const ws = words.filter((w) => w.start >= seg.start - 1e-6 && w.end <= seg.end + 1e-6);
    const f = await session.final({ text: seg.text, words: ws, start: seg.start, end: seg.end }, 'en');
    assert.ok(f.words.length && f.words.every((w) => Number.isInteger(w.speaker)), 'every final carries speakers');
    labels.push(f.words[0].speaker!);
  }
  assert.ok(labels.every((l) => l >= 0 && l < 8));
  assert.equal(labels[0], 0, 'the first voice is speaker 0');
});

test('silence, noise and very short audio: no crash, no invented speakers', async () => {
  const stage = diarizationStage({});
  const w = [{ word: 'hm', start: 0.02, end: 0.08, confidence: 1 }];
  for (const pcm of [new Float32Array(0), new Float32Array(1600), new Float32Array(16000 * 3), Float32Array.from({ length: 16000 * 3 }, (_, i) => 0.01 * Math.sin(i * 12.9898) * 43758.5453 % 0.01)]) {
    for (const mode of ['batch', 'realtime'] as const) {
      const t = await stage.run(baseTranscript({ words: w, text: 'hm', language: 'en', duration: pcm.length / 16000 }), ctx(pcm, mode));
      assert.equal(t.words[0].speaker, 0);
      assert.ok(t.speakerCount! <= 1, `${mode} ${pcm.length}: ${t.speakerCount}`);
    }
  }
});

test('diarize=false plans no diarization; no speaker fields appear', async () => {
  const pipeline = new Pipeline([diarizationStage({}), utteranceStage({ gapSeconds: 0.8, maxSeconds: 30 })]);
  const pcm = new Float32Array(16000);
  const t = await pipeline.run({ words: [{ word: 'hi', start: 0.1, end: 0.3, confidence: 1 }], text: 'hi', language: 'en', duration: 1 }, ctx(pcm, 'batch', new StageState(), 0, opts({ diarize: false })));
  assert.equal(t.words[0].speaker, undefined);
  assert.equal(t.turns, undefined);
  assert.equal(t.utterances[0].speaker, undefined);
});

const pythonOnnx = (() => {
  try {
    execFileSync('/usr/bin/python3', ['-c', 'import onnx, numpy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const EMBEDDING = path.join(SHARED_DIR, 'fixtures', 'synthetic-pooling-embedding', 'pooling-embedding.onnx');

test('neural path (sherpa-onnx OfflineSpeakerDiarization + SpeakerEmbeddingExtractor) on weight-free fixtures with the real model I/O', { skip: skip || (!pythonOnnx && 'needs Debian python3-onnx') || (!fs.existsSync(EMBEDDING) && 'no embedding fixture') }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-diar-'));
  execFileSync('/usr/bin/python3', [path.join(REPO_ROOT, 'scripts', 'make-diarization-fixture.py'), dir], { stdio: 'ignore' });
  const models = { segmentation: path.join(dir, 'segmentation.onnx'), embedding: EMBEDDING };
  const clip = loadSet('diar_pyannote').find((c) => c.id === 'sample')!;
  const pcm = readWav16k(clip.audio);
  const words = wordsOf(clip.segments as { start: number; end: number; text: string }[]);
  const stage = diarizationStage({ neuralModels: () => models });
  const t = await stage.run(baseTranscript({ words, text: '', language: 'en', duration: 30 }), ctx(pcm, 'batch'));
  // The fixture's segmentation marks loud frames as speech; its pooled "embedding" is not
  // speaker-discriminative, so clustering finds one speaker: what is checked is the real I/O path.
  assert.equal(t.speakerCount, 1);
  assert.ok(t.turns!.length >= 1 && t.turns!.every((x) => x.speaker === 0));
  const speech = t.turns!.reduce((s, x) => s + x.end - x.start, 0);
  assert.ok(speech > 15 && speech < 29, `speech ${speech}`);
  assert.ok(t.turns![0].start > 2, 'the silent first seconds are not speech');
  assert.ok(t.words.every((w) => w.speaker === 0 && w.speakerConfidence === 1));
  // Forced two clusters: labels 0/1 in order of appearance, margins below 1.
  const two = await diarizationStage({ neuralModels: () => models, neural: { numSpeakers: 2 } }).run(baseTranscript({ words, text: '', language: 'en', duration: 30 }), ctx(pcm, 'batch'));
  assert.equal(two.speakerCount, 2);
  assert.equal(two.turns![0].speaker, 0);
  // Real time: embeddings of each final, nearest centroid; labels persist in the session state.
  const state = new StageState();
  const rt = diarizationStage({ neuralModels: () => models, neural: { threshold: 0.5 } });
  const labels: number[] = [];
  for (const [s, e] of [[6.5, 9.8], [10.5, 14.2], [14.4, 17.8]]) {
    const piece = pcm.slice(s * 16000, e * 16000);
    const r = await rt.run(baseTranscript({ words: [{ word: 'x', start: s + 0.1, end: s + 0.4, confidence: 1 }], text: 'x', language: 'en', duration: e - s, start: s, end: e }), ctx(piece, 'realtime', state, s));
    labels.push(r.words[0].speaker!);
  }
  assert.deepEqual(labels, [0, 0, 0], 'the non-discriminative fixture embedding maps every final to the first speaker');
  fs.rmSync(dir, { recursive: true, force: true });
});
