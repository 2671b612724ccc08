/**
 * Decodes the punctuated-reference sets once with pocketsphinx and caches the words, so
 * bench/text-eval.ts can be re-run quickly while tuning (cache: bench/results/text-decode.json,
 * not committed). Run: nice -n 10 npx tsx bench/text-decode.ts
 */
import fs from 'node:fs';
import path from 'node:path';
import { createEngine } from '../src/engines/index.ts';
import { decodeAudio } from '../src/audio/index.ts';
import { loadSet } from '../test/helpers/speech.ts';
import { REPO_ROOT } from './lib.ts';

/** Sets whose references are punctuated and cased (diar_pyannote: only its phone-call "sample"). */
export const TEXT_SETS = ['en_ljspeech', 'telephony_8k_en_asterisk', 'diar_pyannote'];
const punctuatedReference = (set: string, text: string | null) => !!text && (set !== 'diar_pyannote' || (/[.?,]/.test(text) && /[A-Z]/.test(text)));
export const DECODE_CACHE = path.join(REPO_ROOT, 'bench', 'results', 'text-decode.json');

export interface DecodedClip {
  set: string;
  id: string;
  reference: string;
  duration: number;
  decodeSeconds: number;
  words: { word: string; start: number; end: number; confidence: number }[];
}

export async function decodeAll(log: (m: string) => void = console.log): Promise<DecodedClip[]> {
  const cached: DecodedClip[] = fs.existsSync(DECODE_CACHE) ? (JSON.parse(fs.readFileSync(DECODE_CACHE, 'utf8')) as DecodedClip[]) : [];
  const want = TEXT_SETS.flatMap((set) => loadSet(set).filter((c) => punctuatedReference(set, c.text)).map((c) => ({ set, clip: c })));
  const have = new Set(cached.map((c) => `${c.set}/${c.id}`));
  const missing = want.filter((w) => !have.has(`${w.set}/${w.clip.id}`));
  if (!missing.length) return want.map((w) => cached.find((c) => c.set === w.set && c.id === w.clip.id)!);
  const engine = createEngine({ kind: 'pocketsphinx', workers: 1 });
  await engine.init();
  const out: DecodedClip[] = [...cached];
  try {
    {
      for (const { set, clip } of missing) {
        const pcm = (await decodeAudio(fs.readFileSync(clip.audio))).pcm;
        const r = await engine.recognize(pcm, { language: 'en' });
        out.push({ set, id: clip.id, reference: clip.text ?? '', duration: r.duration, decodeSeconds: r.decodeSeconds, words: r.words });
        log(`${set}/${clip.id}: ${r.text}`);
      }
    }
  } finally {
    await engine.close();
  }
  fs.mkdirSync(path.dirname(DECODE_CACHE), { recursive: true });
  fs.writeFileSync(DECODE_CACHE, JSON.stringify(out));
  return want.map((w) => out.find((c) => c.set === w.set && c.id === w.clip.id)!);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await decodeAll();
}
