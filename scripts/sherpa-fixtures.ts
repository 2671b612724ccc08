/**
 * Locate (and generate on demand) the weight-free sherpa-onnx ONNX fixtures used by tests and
 * benchmarks. The generator is scripts/make-sherpa-fixtures.py (Debian python3-onnx); output goes
 * to node_modules/.cache/cochlea-fixtures (git-ignored with node_modules), or $COCHLEA_FIXTURES_DIR.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SCRIPT = path.join(ROOT, 'scripts', 'make-sherpa-fixtures.py');

export interface SherpaFixtures {
  dir: string;
  online: { dir: string; encoder: string; decoder: string; joiner: string; tokens: string };
  senseVoice: { dir: string; model: string; tokens: string };
}

export function fixturesDir(): string {
  return process.env.COCHLEA_FIXTURES_DIR ?? path.join(ROOT, 'node_modules', '.cache', 'cochlea-fixtures');
}

function python(): string {
  // Debian's interpreter has python3-onnx; a pyenv/venv python3 earlier on PATH usually does not.
  for (const p of [process.env.COCHLEA_PYTHON, '/usr/bin/python3', 'python3']) {
    if (!p) continue;
    try {
      execFileSync(p, ['-c', 'import onnx, numpy'], { stdio: 'ignore' });
      return p;
    } catch {
      /* try the next */
    }
  }
  throw new Error('no python3 with the onnx module: apt-get install python3-onnx (or set COCHLEA_PYTHON)');
}

/** Generate the fixtures if missing or older than the generator; return their paths. */
export function ensureSherpaFixtures(): SherpaFixtures {
  const dir = fixturesDir();
  const stamp = path.join(dir, 'online-lstm-transducer', 'fixture.json');
  const fresh = fs.existsSync(stamp) && fs.statSync(stamp).mtimeMs >= fs.statSync(SCRIPT).mtimeMs && fs.existsSync(path.join(dir, 'offline-sense-voice', 'fixture.json'));
  if (!fresh) {
    fs.mkdirSync(dir, { recursive: true });
    execFileSync(python(), [SCRIPT, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const o = path.join(dir, 'online-lstm-transducer');
  const s = path.join(dir, 'offline-sense-voice');
  return {
    dir,
    online: { dir: o, encoder: path.join(o, 'encoder.onnx'), decoder: path.join(o, 'decoder.onnx'), joiner: path.join(o, 'joiner.onnx'), tokens: path.join(o, 'tokens.txt') },
    senseVoice: { dir: s, model: path.join(s, 'model.onnx'), tokens: path.join(s, 'tokens.txt') },
  };
}

/** Inline model specs for the sherpa backend config (see src/engines/sherpa/config.ts). */
export function fixtureSpecs(f: SherpaFixtures) {
  return {
    online: {
      name: 'fixture-online-lstm-transducer',
      mode: 'online' as const,
      family: 'transducer' as const,
      decodingMethod: 'modified_beam_search' as const,
      hotwordsCase: 'upper' as const,
      languages: ['en'],
      files: { encoder: f.online.encoder, decoder: f.online.decoder, joiner: f.online.joiner, tokens: f.online.tokens },
    },
    senseVoice: {
      name: 'fixture-offline-sense-voice',
      mode: 'offline' as const,
      family: 'sense-voice' as const,
      languages: ['zh', 'en', 'ja', 'ko', 'yue'],
      multilingual: true,
      files: { model: f.senseVoice.model, tokens: f.senseVoice.tokens },
    },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(JSON.stringify(ensureSherpaFixtures(), null, 2));
}
