/**
 * Public entry point of the audio layer: bytes in (any container/codec Pulse accepts),
 * 16 kHz mono float32 PCM out.
 *
 *   decodeAudio(input, opts)              batch: Uint8Array or Readable → DecodedAudio
 *   createStreamDecoder(encoding, rate)   real-time: push(bytes) → PCM, flush() at the end
 *
 * Every failure is an AudioDecodeError (code → HTTP 400 / WebSocket error in the server).
 */
export * from './types.ts';
export { decodeAudio, RAW_MIN_RATE, RAW_MAX_RATE } from './decode.ts';
export { createStreamDecoder, STREAM_MIN_RATE, STREAM_MAX_RATE, RAW_ENCODINGS } from './stream.ts';
export { detectFormat, type Detected } from './detect.ts';
export { RESAMPLER_NAME } from './resampler.ts';
export { MULAW_TO_S16, ALAW_TO_S16 } from './g711.ts';
