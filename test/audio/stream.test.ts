/**
 * Real-time decoders: the same bytes in random chunk sizes (down to 1 byte) give bit-identical
 * PCM; the PCM matches an independent reference decode (ffmpeg; libopus for Opus); lengths are
 * exact; bad data is reported without losing the good audio around it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AudioDecodeError, createStreamDecoder, type RawEncoding, type StreamDecoder } from '../../src/audio/index.ts';
import { OggDemuxer, oggCrc } from '../../src/audio/ogg.ts';
import { SOURCE_CLIP, concatF32, ffmpeg, ffmpegOut, identical, randomChunks, referenceDecode, rng, skipWithoutSpeech, snrDb, tempDir } from './helpers.ts';

const skip = skipWithoutSpeech('stream decoder tests');
const SEED = Number(process.env.AUDIO_TEST_SEED ?? 20261121);

/**
 * Decode pushed chunks. Pushes are synchronous, as a WebSocket handler does them; `awaitReady`
 * lets the decoder finish a mid-stream (re)initialisation between pushes, as separate WebSocket
 * messages would (needed only for multichannel Ogg Opus, whose decoder is built on OpusHead).
 */
async function decodeAll(enc: RawEncoding, rate: number, chunks: Uint8Array[], awaitReady = false): Promise<Float32Array> {
  const d = createStreamDecoder(enc, rate, { maxPushSeconds: Infinity });
  await d.ready;
  const out: Float32Array[] = [];
  for (const c of chunks) {
    if (awaitReady) await d.ready;
    out.push(d.push(c));
  }
  if (awaitReady) await d.ready;
  out.push(d.flush());
  return concatF32(out);
}

/** Decode with three different random chunkings (incl. 1–3 byte pieces) and check they agree. */
async function decodeChunkedThreeWays(enc: RawEncoding, rate: number, bytes: Uint8Array, label: string, awaitReady = false): Promise<Float32Array> {
  const rand = rng(SEED ^ bytes.length);
  const whole = await decodeAll(enc, rate, [bytes], awaitReady);
  const small = await decodeAll(enc, rate, randomChunks(bytes, rand, 3), awaitReady);
  const mixed = await decodeAll(enc, rate, randomChunks(bytes, rand, 4000), awaitReady);
  assert.ok(identical(whole, small), `${label}: 1–3 byte chunks differ from one push (${small.length} vs ${whole.length})`);
  assert.ok(identical(whole, mixed), `${label}: random chunks differ from one push`);
  return whole;
}

let dir = '';
const log: string[] = [];

describe('PCM and G.711 stream decoders', { skip }, () => {
  before(() => {
    dir = tempDir('stream');
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(`# stream decoders, SNR vs reference:\n${log.map((l) => `#   ${l}`).join('\n')}`);
  });

  const cases: [RawEncoding, string, number][] = [];
  for (const rate of [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000]) cases.push(['linear16', 's16le', rate]);
  for (const rate of [8000, 16000, 48000]) cases.push(['linear32', 'f32le', rate]);
  for (const rate of [8000, 16000]) cases.push(['mulaw', 'mulaw', rate], ['alaw', 'alaw', rate]);

  for (const [enc, fmt, rate] of cases) {
    test(`${enc} @ ${rate} Hz`, async () => {
      const raw = path.join(dir, `${enc}-${rate}.raw`);
      ffmpeg(['-i', SOURCE_CLIP, '-ac', '1', '-ar', String(rate), '-f', fmt, raw]);
      const bytes = fs.readFileSync(raw);
      const pcm = await decodeChunkedThreeWays(enc, rate, bytes, `${enc}@${rate}`);
      const frames = bytes.length / (fmt === 's16le' ? 2 : fmt === 'f32le' ? 4 : 1);
      assert.equal(pcm.length, Math.round((frames * 16000) / rate), 'exact output length');
      const ref = referenceDecode(raw, ['-f', fmt, '-ar', String(rate), '-ac', '1']);
      const snr = snrDb(pcm, ref);
      const bound = rate === 16000 ? 200 : rate <= 11025 ? 38 : 40;
      log.push(`${enc}@${rate}: ${snr === Infinity ? 'exact' : snr.toFixed(1)} dB (bound ${bound})`);
      assert.ok(snr >= bound, `SNR ${snr.toFixed(1)} < ${bound}`);
    });
  }

  test('a frame split across pushes is completed, an odd trailing byte is reported as pending', async () => {
    const d = createStreamDecoder("linear16", 16000, { maxPushSeconds: Infinity });
    await d.ready;
    assert.equal(d.push(new Uint8Array([0x00])).length, 0);
    assert.equal(d.pendingBytes, 1);
    const x = d.push(new Uint8Array([0x40, 0x00, 0xc0, 0x01]));
    assert.deepEqual([...x], [0.5, -0.5]);
    assert.equal(d.pendingBytes, 1);
    assert.equal(d.flush().length, 0);
  });
});

describe('Opus stream decoders', { skip }, () => {
  const files: Record<string, string> = {};
  let opusLog = 0;
  before(() => {
    log.length = 0;
    dir = tempDir('opus');
    const mk = (name: string, ...args: string[]) => {
      files[name] = path.join(dir, `${name}.opus`);
      ffmpeg(['-i', SOURCE_CLIP, ...args, '-c:a', 'libopus', files[name]]);
    };
    mk('fullband-stereo-20ms', '-b:a', '48k');
    mk('wideband-mono-10ms', '-ar', '16000', '-ac', '1', '-b:a', '24k', '-frame_duration', '10');
    mk('narrowband-mono-60ms', '-ar', '8000', '-ac', '1', '-b:a', '12k', '-frame_duration', '60');
    mk('voip-mono-40ms', '-ac', '1', '-b:a', '16k', '-application', 'voip', '-frame_duration', '40');
    mk('six-channels', '-ac', '6', '-mapping_family', '1', '-b:a', '128k');
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
    log.splice(0, log.length - opusLog);
    console.log(`# opus decoders, SNR vs ffmpeg+libopus reference:\n${log.map((l) => `#   ${l}`).join('\n')}`);
  });

  for (const name of ['fullband-stereo-20ms', 'wideband-mono-10ms', 'narrowband-mono-60ms', 'voip-mono-40ms']) {
    test(`ogg_opus ${name}: chunking-independent, matches libopus reference, exact length`, async () => {
      const bytes = fs.readFileSync(files[name]);
      const pcm = await decodeChunkedThreeWays('ogg_opus', 48000, bytes, name);
      const ref = referenceDecode(files[name], ['-c:a', 'libopus']);
      assert.equal(pcm.length, ref.length, 'pre-skip and end trimming as in the reference');
      const snr = snrDb(pcm, ref);
      log.push(`ogg_opus ${name}: ${snr.toFixed(1)} dB (bound 55)`);
      opusLog++;
      assert.ok(snr >= 55, `SNR ${snr.toFixed(1)}`);
    });

    test(`opus packets ${name}: one packet per push`, async () => {
      const bytes = fs.readFileSync(files[name]);
      const packets = new OggDemuxer().push(bytes).filter((p) => p.index >= 2);
      // Independent count of the audio packets.
      const n = Number(execFileSync('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'stream=nb_read_packets', '-of', 'csv=p=0', files[name]]).toString().trim());
      assert.equal(packets.length, n, 'packet count agrees with ffprobe');
      const pcm = await decodeAll('opus', 48000, packets.map((p) => p.data));
      const ref = referenceDecode(files[name], ['-c:a', 'libopus']);
      // Raw packets carry no pre-skip/end trimming: the reference is offset by OpusHead's pre-skip.
      const head = new OggDemuxer().push(bytes)[0].data;
      const preSkip16 = Math.round((head[10] | (head[11] << 8)) / 3);
      const snr = snrDb(pcm.subarray(preSkip16), ref);
      log.push(`opus packets ${name}: ${snr.toFixed(1)} dB (bound 55)`);
      opusLog++;
      assert.ok(snr >= 55, `SNR ${snr.toFixed(1)}`);
      assert.ok(pcm.length >= ref.length + preSkip16 && pcm.length - preSkip16 - ref.length <= 960, `length ${pcm.length}`);
    });
  }

  test('ogg_opus with 6 channels (mapping family 1) is decoded and downmixed', async () => {
    const bytes = fs.readFileSync(files['six-channels']);
    const pcm = await decodeChunkedThreeWays('ogg_opus', 48000, bytes, 'six', true);
    const w = (1 / 6).toFixed(6);
    const ref = referenceDecode(files['six-channels'], ['-c:a', 'libopus']);
    assert.equal(pcm.length, ref.length);
    // Equal-weight downmix reference (Cochlea averages channels).
    const eq = ffmpegOut(['-c:a', 'libopus', '-i', files['six-channels'], '-af', `pan=mono|c0=${w}*c0+${w}*c1+${w}*c2+${w}*c3+${w}*c4+${w}*c5,aresample=16000`, '-f', 'f32le', '-']);
    const eqf = new Float32Array(eq.buffer.slice(eq.byteOffset, eq.byteOffset + eq.length));
    const snr = snrDb(pcm, eqf);
    log.push(`ogg_opus 6ch: ${snr.toFixed(1)} dB (bound 50)`);
    opusLog++;
    assert.ok(snr >= 50, `SNR ${snr.toFixed(1)}`);
  });

  test('chained Ogg Opus streams decode back to back', async () => {
    const a = fs.readFileSync(files['wideband-mono-10ms']);
    const b = fs.readFileSync(files['fullband-stereo-20ms']);
    const one = await decodeAll('ogg_opus', 48000, [a]);
    const two = await decodeAll('ogg_opus', 48000, [b]);
    const both = await decodeAll('ogg_opus', 48000, randomChunks(Buffer.concat([a, b]), rng(SEED), 5000));
    assert.ok(Math.abs(both.length - (one.length + two.length)) <= 2, `${both.length} vs ${one.length}+${two.length}`);
  });

  test('a corrupted page is reported and skipped; audio before and after it is kept', async () => {
    const bytes = Buffer.from(fs.readFileSync(files['fullband-stereo-20ms']));
    const clean = await decodeAll('ogg_opus', 48000, [bytes]);
    // Flip one byte in the middle of the file (inside some page's payload).
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] ^= 0x5a;
    const d = createStreamDecoder("ogg_opus", 48000, { maxPushSeconds: Infinity });
    await d.ready;
    const out: Float32Array[] = [];
    let errors = 0;
    for (const c of randomChunks(bytes, rng(SEED + 1), 2000)) {
      try {
        out.push(d.push(c));
      } catch (e) {
        assert.ok(e instanceof AudioDecodeError, String(e));
        assert.match(e.message, /CRC|Opus|Ogg/);
        errors++;
      }
    }
    out.push(d.flush());
    const got = concatF32(out);
    assert.ok(errors >= 1, 'the bad page was reported');
    const lost = clean.length - got.length;
    // One page (~1 s at most for this encoder) is lost, nothing else.
    assert.ok(lost > 0 && lost <= 16000 * 1.1, `lost ${lost} samples`);
    // The start is bit-identical up to the damage.
    assert.ok(identical(got.subarray(0, 16000), clean.subarray(0, 16000)));
  });

  test('bad raw Opus packets are refused with a reason and do not disturb the stream', async () => {
    const packets = new OggDemuxer().push(fs.readFileSync(files['wideband-mono-10ms'])).filter((p) => p.index >= 2);
    const d = createStreamDecoder('opus', 16000);
    await d.ready;
    const good: Float32Array[] = [];
    for (const p of packets.slice(0, 50)) good.push(d.push(p.data));
    const bad = [new Uint8Array([0x03]), new Uint8Array([0x01, 1, 2, 3]), new Uint8Array([0x02, 255, 255]), new Uint8Array(2000).fill(0x80), new Uint8Array([0x03, 0x00])];
    for (const b of bad) assert.throws(() => d.push(b), (e: unknown) => e instanceof AudioDecodeError && /Opus packet/.test(e.message));
    for (const p of packets.slice(50)) good.push(d.push(p.data));
    good.push(d.flush());
    assert.ok(concatF32(good).length >= packets.length * 160 - 10);
  });

  test('Ogg CRC matches the reference polynomial on a real page', () => {
    const bytes = fs.readFileSync(files['wideband-mono-10ms']);
    const nseg = bytes[26];
    let len = 27 + nseg;
    for (let i = 0; i < nseg; i++) len += bytes[27 + i];
    assert.equal(oggCrc(bytes.subarray(0, len)), bytes.readUInt32LE(22));
  });
});

describe('stream decoder contract', () => {
  test('sample rates outside 8000–48000 and unknown encodings are refused', () => {
    for (const r of [0, 7999, 48001, 16000.5, NaN]) {
      assert.throws(() => createStreamDecoder('linear16', r), (e: unknown) => e instanceof AudioDecodeError && e.code === 'unsupported');
    }
    assert.throws(() => createStreamDecoder('mp3' as RawEncoding, 16000), (e: unknown) => e instanceof AudioDecodeError && e.code === 'unsupported');
    for (const enc of ['linear16', 'linear32', 'alaw', 'mulaw', 'opus', 'ogg_opus'] as const) {
      for (const r of [8000, 16000, 48000]) assert.ok(createStreamDecoder(enc, r));
    }
  });

  test('many decoders created in one tick (beyond the converter pool) still lose nothing', async () => {
    const bytes = new Uint8Array(8000 * 2);
    const dv = new DataView(bytes.buffer);
    for (let i = 0; i < 8000; i++) dv.setInt16(2 * i, Math.round(8000 * Math.sin(i / 5)), true);
    const decs: StreamDecoder[] = [];
    const early: Float32Array[] = [];
    for (let i = 0; i < 12; i++) {
      const d = createStreamDecoder("linear16", 8000, { maxPushSeconds: Infinity });
      early.push(d.push(bytes.subarray(0, 4001))); // before ready: buffered
      decs.push(d);
    }
    await Promise.all(decs.map((d) => d.ready));
    const outs = decs.map((d, i) => concatF32([early[i], d.push(bytes.subarray(4001)), d.flush()]));
    const ref = await decodeAll('linear16', 8000, [bytes]);
    for (const o of outs) assert.ok(identical(o, ref), `${o.length} vs ${ref.length}`);
  });

  test('push after flush throws; second flush is empty', async () => {
    for (const enc of ['linear16', 'ogg_opus', 'opus'] as const) {
      const d = createStreamDecoder(enc, 16000, { maxPushSeconds: Infinity });
      await d.ready;
      d.flush();
      assert.equal(d.flush().length, 0);
      assert.throws(() => d.push(new Uint8Array([1, 2, 3])), AudioDecodeError);
    }
  });
});
