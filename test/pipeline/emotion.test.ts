import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { emotionChunks, normalizeTag, scoresFromTags, EMOTION_MODEL, type EmotionModelFiles } from '../../src/pipeline/voice/emotion.ts';
import { emotionStage, findEmotionModel } from '../../src/pipeline/stages/emotion.ts';
import { utteranceStage } from '../../src/pipeline/stages/utterances.ts';
import { Pipeline, baseTranscript } from '../../src/pipeline/pipeline.ts';
import { AnalysisPool, InlineAnalysis } from '../../src/pipeline/analysis/pool.ts';
import { DEFAULT_OPTIONS, StageState, type AnalysisRunner, type StageContext } from '../../src/pipeline/types.ts';

const SR = 16000;
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const engine = { name: 'test', languages: ['en'], streaming: false, wordTimestamps: true, wordConfidence: false };
const KEYS = ['happiness', 'sadness', 'disgust', 'fear', 'anger'];

test('SenseVoice tags map to the five Pulse scores by share of speech time', () => {
  assert.equal(normalizeTag('<|HAPPY|>'), 'HAPPY');
  assert.equal(normalizeTag(undefined), '');
  const s = scoresFromTags([
    { tag: '<|ANGRY|>', seconds: 2 },
    { tag: '<|NEUTRAL|>', seconds: 4 },
    { tag: '<|HAPPY|>', seconds: 1 },
    { tag: '<|SURPRISED|>', seconds: 1 },
    { tag: '<|SAD|>', seconds: 1 },
    { tag: '<|FEARFUL|>', seconds: 0.5 },
    { tag: '<|DISGUSTED|>', seconds: 0.5 },
    { tag: '', seconds: 100 }, // no tag (chunk too short): not counted at all
  ])!;
  assert.deepEqual(Object.keys(s).sort(), [...KEYS].sort());
  assert.deepEqual(s, { anger: 0.2, happiness: 0.1, sadness: 0.1, fear: 0.05, disgust: 0.05 });
  // Neutral speech scores zero everywhere; nothing analysed gives no scores at all.
  assert.deepEqual(scoresFromTags([{ tag: '<|NEUTRAL|>', seconds: 3 }]), { happiness: 0, sadness: 0, disgust: 0, fear: 0, anger: 0 });
  assert.equal(scoresFromTags([]), null);
  assert.equal(scoresFromTags([{ tag: '', seconds: 3 }]), null);
  assert.deepEqual(scoresFromTags([{ tag: '<|EMO_UNKNOWN|>', seconds: 1 }, { tag: '<|ANGRY|>', seconds: 3 }])?.anger, 0.75);
});

test('chunks: one speaker\'s consecutive utterances merge up to the length and gap limits; windows without words', () => {
  const c = emotionChunks(
    [
      { start: 0, end: 2, speaker: 0 },
      { start: 2.5, end: 4, speaker: 0 },
      { start: 4.2, end: 6, speaker: 1 },
      { start: 9, end: 10, speaker: 1 },
      { start: 10.2, end: 40, speaker: 1 },
    ],
    40,
    20,
    1.5,
  );
  assert.deepEqual(c, [[0, 4], [4.2, 6], [9, 10], [10.2, 40]]);
  assert.deepEqual(emotionChunks([], 45, 20), [[0, 20], [20, 40], [40, 45]]);
});

function ctxFor(pcm: Float32Array, analysis: AnalysisRunner = new InlineAnalysis()): StageContext {
  return { mode: 'batch', partial: false, options: { ...DEFAULT_OPTIONS, emotionDetection: true }, audio: { pcm, offset: 0, sampleRate: SR }, state: new StageState(), analysis, engine };
}

test('no SenseVoice installed: a warning naming the pull command, and no emotions', async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-no-models-'));
  try {
    const stage = emotionStage({ modelsDir: empty });
    assert.equal(findEmotionModel({ modelsDir: empty }), null);
    const p = new Pipeline([utteranceStage({ gapSeconds: 0.8, maxSeconds: 30 }), stage]);
    const plan = p.plan({ ...DEFAULT_OPTIONS, emotionDetection: true }, { mode: 'batch', engine });
    assert.ok(!plan.stages.includes(stage));
    const w = plan.warnings.find((x) => x.option === 'emotion_detection');
    assert.ok(w, JSON.stringify(plan.warnings));
    assert.equal(w.fix, `cochlea models pull ${EMOTION_MODEL}`);
    assert.match(w.message, /not installed/);
    const t = await p.run(baseTranscript({ words: [{ word: 'hi', start: 0.1, end: 0.5, confidence: 1 }], text: '', language: 'en', duration: 1 }), ctxFor(new Float32Array(SR)));
    assert.equal(t.emotions, undefined);
    assert.ok(t.warnings.some((x) => x.option === 'emotion_detection' && x.fix === w.fix));
    // Real time: Pulse serves emotion on pre-recorded audio only; the plan says so.
    const rt = new Pipeline([stage]).plan({ ...DEFAULT_OPTIONS, emotionDetection: true }, { mode: 'realtime', engine });
    assert.ok(rt.warnings.some((x) => x.option === 'emotion_detection' && /real-time/.test(x.message)));
  } finally {
    fs.rmSync(empty, { recursive: true, force: true });
  }
});

/** The loudness-driven SenseVoice-shaped fixture (test/pipeline/fixtures/make-emotion-fixture.py). */
function emotionFixture(): EmotionModelFiles | string {
  const dir = path.join(process.env.COCHLEA_FIXTURES_DIR ?? path.join(REPO, 'node_modules', '.cache', 'cochlea-fixtures'), 'emotion-sense-voice');
  const script = path.join(REPO, 'test', 'pipeline', 'fixtures', 'make-emotion-fixture.py');
  const files = { model: path.join(dir, 'model.onnx'), tokens: path.join(dir, 'tokens.txt') };
  const stale = !fs.existsSync(files.model) || fs.statSync(files.model).mtimeMs < fs.statSync(script).mtimeMs;
  if (stale) {
    try {
      execFileSync(process.env.COCHLEA_PYTHON ?? '/usr/bin/python3', [script, dir], { stdio: 'ignore' });
    } catch (e) {
      return `emotion fixture not built (needs python3-onnx): ${(e as Error).message}`;
    }
  }
  return files;
}
const fixture = emotionFixture();
const skipFixture = typeof fixture === 'string' ? fixture : false;

/** 3 s loud voice-like tone, 2.2 s silence, 6 s quiet tone: the fixture tags loud chunks ANGRY, quiet NEUTRAL. */
function loudThenQuiet(): { pcm: Float32Array; words: Array<{ word: string; start: number; end: number; confidence: number }> } {
  let rnd = 12345;
  const seg = (amp: number, secs: number) => {
    const x = new Float32Array(Math.round(secs * SR));
    for (let i = 0; i < x.length; i++) {
      let v = 0;
      for (let h = 1; h < 20; h++) v += Math.sin((2 * Math.PI * h * 150 * i) / SR + h) / h;
      rnd = (1664525 * rnd + 1013904223) >>> 0;
      // A harmonic "voice" with 5% broadband noise (deterministic LCG), so the mel bands are filled as in speech.
      x[i] = (amp * v) / 2.5 + amp * 0.05 * ((rnd / 2 ** 32) * 2 - 1);
    }
    return x;
  };
  const a = seg(0.4, 3);
  const b = seg(0.01, 6);
  const pcm = new Float32Array(a.length + Math.round(2.2 * SR) + b.length);
  pcm.set(a, 0);
  pcm.set(b, pcm.length - b.length);
  const bStart = (pcm.length - b.length) / SR;
  return {
    pcm,
    words: [
      { word: 'loud', start: 0.1, end: 2.9, confidence: 1 },
      { word: 'quiet', start: bStart + 0.1, end: bStart + 5.7, confidence: 1 },
    ],
  };
}

test('model path on a weight-free SenseVoice-shaped fixture: sherpa-onnx emotion tags become scores', { skip: skipFixture }, async () => {
  const model = fixture as EmotionModelFiles;
  const stage = emotionStage({ model });
  const p = new Pipeline([utteranceStage({ gapSeconds: 0.8, maxSeconds: 30 }), stage]);
  assert.deepEqual(p.plan({ ...DEFAULT_OPTIONS, emotionDetection: true }, { mode: 'batch', engine }).warnings.filter((w) => w.option === 'emotion_detection'), []);
  const { pcm, words } = loudThenQuiet();
  const t = await p.run({ ...baseTranscript({ words: [], text: '', language: 'en', duration: pcm.length / SR }), words }, ctxFor(pcm));
  assert.ok(t.emotions, JSON.stringify(t.warnings));
  // Chunks: [0.1, 2.9] ANGRY (2.8 s) and [5.3, 10.9] NEUTRAL (5.6 s): anger = 2.8 / 8.4.
  assert.deepEqual(t.emotions, { happiness: 0, sadness: 0, disgust: 0, fear: 0, anger: 0.333 });
  assert.ok(t.timings.emotion >= 0);
  // Quiet speech only: all five zero (neutral), not missing.
  const q = await p.run({ ...baseTranscript({ words: [], text: '', language: 'en', duration: pcm.length / SR }), words: [words[1]] }, ctxFor(pcm));
  assert.deepEqual(q.emotions, { happiness: 0, sadness: 0, disgust: 0, fear: 0, anger: 0 });
});

test('model path in the Piscina analysis worker', { skip: skipFixture }, async () => {
  const pool = new AnalysisPool({ threads: 1 });
  try {
    const p = new Pipeline([utteranceStage({ gapSeconds: 0.8, maxSeconds: 30 }), emotionStage({ model: fixture as EmotionModelFiles })]);
    const { pcm, words } = loudThenQuiet();
    const t = await p.run({ ...baseTranscript({ words: [], text: '', language: 'en', duration: pcm.length / SR }), words }, ctxFor(pcm, pool));
    assert.equal(t.emotions?.anger, 0.333, JSON.stringify(t.warnings));
    assert.equal(pcm.length, 11.2 * SR, 'the transcript audio is not detached by the transfer');
  } finally {
    await pool.close();
  }
});
