/** Shared by telephony-wer.test.ts and telephony-wer.slow.ts: one real server, batch requests over HTTP. */
import assert from 'node:assert/strict';
import { authHeaders, type TestServer } from '../helpers/server.ts';

export const TELEPHONY_SET = 'telephony_8k_en_asterisk';

/** POST a body as the recognizer's spoken words (format=false: WER compares words, not ITN digits). */
export async function post(s: TestServer, body: Buffer, contentType: string, query = ''): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${s.url}/waves/v1/pulse/get_text?language=en&format=false${query}`, {
    method: 'POST',
    headers: authHeaders(s.key, { 'content-type': contentType }),
    body: body as unknown as BodyInit,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Transcribe every item, two requests at a time (batch results do not depend on request order: determinism.test.ts). */
export async function transcribeAll(s: TestServer, items: { body: Buffer; type: string; query?: string }[], concurrency = 2): Promise<string[]> {
  const out: string[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) {
        const i = next++;
        const r = await post(s, items[i].body, items[i].type, items[i].query);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        out[i] = String(r.json.transcription ?? '');
      }
    }),
  );
  return out;
}
