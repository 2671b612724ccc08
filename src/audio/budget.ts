/**
 * A process-wide budget of decoded audio in flight, in seconds of 16 kHz mono PCM
 * (1 s = 64 KB as Float32; the engine worker holds a second copy while it recognizes).
 *
 * Decompression bombs (a 3.4 MB FLAC that decodes to 5 hours) cost memory in proportion to their
 * decoded length, not their size on the wire, so the body-size limit does not bound them, and the
 * duration limit bounds one request, not four at once. Every batch decode reserves what it
 * produces as it produces it (in sink blocks of ~65 s) and keeps the reservation until the caller
 * releases the DecodedAudio after recognition; a decode that would go over the budget fails with
 * AudioDecodeError code 'server' (`retryAfterSeconds` set): the server answers a Pulse-shaped 503
 * and the client retries later. A container that declares its duration up front (WAV header,
 * FLAC STREAMINFO, ffmpeg's "Duration:") is refused before decoding when it cannot fit now.
 *
 * No queueing: a waiting request would hold its (possibly huge) upload and connection while it
 * waits, which is the resource the attacker is spending; a 503 with Retry-After costs nothing.
 */
import { AudioDecodeError } from './types.ts';

export class AudioBudget {
  private usedSeconds = 0;
  /** Highest `used` seen (for stats and tests). */
  peakSeconds = 0;
  /** Reservations refused so far. */
  refused = 0;

  constructor(
    readonly limitSeconds: number,
    /** Sent as Retry-After with the 503. */
    readonly retryAfterSeconds = 10,
  ) {
    if (!(limitSeconds > 0)) throw new RangeError('audio budget must be > 0 seconds');
  }

  get used(): number {
    return this.usedSeconds;
  }

  get available(): number {
    return Math.max(0, this.limitSeconds - this.usedSeconds);
  }

  /** Would `seconds` more fit right now? (Does not reserve.) */
  fits(seconds: number): boolean {
    return this.usedSeconds + seconds <= this.limitSeconds + 1e-9;
  }

  /** Reserve or throw the 'server' (503) AudioDecodeError. */
  reserve(seconds: number): void {
    if (seconds <= 0) return;
    if (!this.fits(seconds)) {
      this.refused++;
      throw this.busyError();
    }
    this.usedSeconds += seconds;
    if (this.usedSeconds > this.peakSeconds) this.peakSeconds = this.usedSeconds;
  }

  release(seconds: number): void {
    this.usedSeconds = Math.max(0, this.usedSeconds - seconds);
  }

  busyError(): AudioDecodeError {
    const e = new AudioDecodeError(
      'server',
      `The server is decoding as much audio as it may hold at once (${Math.round(this.limitSeconds)} s in flight); retry in ${this.retryAfterSeconds} s`,
    );
    e.retryAfterSeconds = this.retryAfterSeconds;
    return e;
  }
}

/** A reservation on a budget that grows as audio is decoded and is released once. */
export class BudgetHold {
  private held = 0;
  private done = false;
  constructor(private readonly budget: AudioBudget | undefined) {}

  get budgetRef(): AudioBudget | undefined {
    return this.done ? undefined : this.budget;
  }

  /** Make the hold at least `seconds` (reserving the difference). */
  growTo(seconds: number): void {
    if (!this.budget || this.done || seconds <= this.held) return;
    this.budget.reserve(seconds - this.held);
    this.held = seconds;
  }

  get seconds(): number {
    return this.held;
  }

  release(): void {
    if (this.done) return;
    this.done = true;
    this.budget?.release(this.held);
    this.held = 0;
  }
}

const budgets = new Map<number, AudioBudget>();

/** The process-wide budget for a limit (one per distinct limit, so tests with their own config do not share). */
export function processAudioBudget(limitSeconds: number): AudioBudget {
  let b = budgets.get(limitSeconds);
  if (!b) {
    b = new AudioBudget(limitSeconds);
    budgets.set(limitSeconds, b);
  }
  return b;
}
