/**
 * Locate (and generate on demand) the weight-free sherpa-onnx ONNX fixtures used by tests and
 * benchmarks. The generator is scripts/make-sherpa-fixtures.py (Debian python3-onnx). Its output
 * is cached in the system temp dir under a name keyed by the SHA-256 of the generator script
 * (`<tmp>/cochlea-fixtures-<hash>`), so it is built once per generator version, survives
 * `npm ci` and is rebuilt whenever the script changes; $COCHLEA_FIXTURES_DIR overrides the place.
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
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
  if (process.env.COCHLEA_FIXTURES_DIR) return process.env.COCHLEA_FIXTURES_DIR;
  const hash = crypto.createHash('sha256').update(fs.readFileSync(SCRIPT)).digest('hex').slice(0, 16);
  return path.join(os.tmpdir(), `cochlea-fixtures-${hash}`);
}

const MARKERS = ['online-lstm-transducer/fixture.json', 'offline-sense-voice/fixture.json'];

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

/** Generate the fixtures unless this generator version's are cached; return their paths. */
export function ensureSherpaFixtures(): SherpaFixtures {
  const dir = fixturesDir();
  const complete = (d: string) => MARKERS.every((m) => fs.existsSync(path.join(d, m)));
  if (!complete(dir)) {
    if (process.env.COCHLEA_FIXTURES_DIR) {
      fs.mkdirSync(dir, { recursive: true });
      execFileSync(python(), [SCRIPT, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    } else {
      // Build beside the cache entry, then rename it into place: a concurrent or interrupted
      // run never sees (or leaves) a half-written entry.
      const tmp = fs.mkdtempSync(`${dir}.building-`);
      try {
        execFileSync(python(), [SCRIPT, tmp], { stdio: ['ignore', 'ignore', 'inherit'] });
        if (fs.existsSync(dir) && !complete(dir)) fs.rmSync(dir, { recursive: true, force: true });
        try {
          fs.renameSync(tmp, dir);
        } catch (err) {
          if (!complete(dir)) throw err; // else another run got there first
        }
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
    }
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
