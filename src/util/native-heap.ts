/**
 * The C allocator (glibc), reached through koffi: how much it holds for live allocations, and giving
 * freed memory back to the OS. A no-op / `undefined` where glibc is not the allocator (musl, macOS).
 * koffi is loaded on first use, so importing this module costs nothing at a worker's start-up.
 */
import { createRequire } from 'node:module';
import type { LibraryHandle } from 'koffi';

type Koffi = typeof import('koffi');
let libc: { koffi: Koffi; lib: LibraryHandle } | null | undefined;
function loadLibc(): { koffi: Koffi; lib: LibraryHandle } | null {
  if (libc === undefined) {
    try {
      const koffi = createRequire(import.meta.url)('koffi') as Koffi;
      libc = { koffi, lib: koffi.load('libc.so.6') };
    } catch {
      libc = null;
    }
  }
  return libc;
}

type MallInfo2 = { uordblks: number | bigint; hblkhd: number | bigint };
let mallinfo2: (() => MallInfo2) | null | undefined;

/**
 * Bytes the C allocator holds for live allocations, process-wide (every thread's arena), from
 * glibc's `mallinfo2()`: `uordblks` (in use in the arenas) + `hblkhd` (in mmap'd chunks).
 *
 * Why not RSS: glibc keeps freed memory in per-thread arenas, so RSS settles at a high-water mark
 * that depends on how allocations from two decoder threads interleaved, and moves by tens of MB
 * between identical runs. In-use bytes move only when native memory (decoders, LMs, audio buffers)
 * is really held, which is what a leak check and a per-session memory figure need. It walks every
 * arena's free lists under their locks (~1 ms): for tests and benches, not for hot paths.
 *
 * `undefined` where there is no glibc: callers fall back to RSS.
 */
export function nativeHeapInUse(): number | undefined {
  if (mallinfo2 === undefined) {
    try {
      const c = loadLibc();
      const st = c?.koffi.struct('cochlea_mallinfo2', {
        arena: 'size_t', ordblks: 'size_t', smblks: 'size_t', hblks: 'size_t', hblkhd: 'size_t',
        usmblks: 'size_t', fsmblks: 'size_t', uordblks: 'size_t', fordblks: 'size_t', keepcost: 'size_t',
      });
      mallinfo2 = c && st ? (c.lib.func('mallinfo2', st, []) as () => MallInfo2) : null;
    } catch {
      mallinfo2 = null;
    }
  }
  if (!mallinfo2) return undefined;
  const m = mallinfo2();
  return Number(m.uordblks) + Number(m.hblkhd);
}

let mallocTrim: ((pad: number) => number) | null | undefined;

/**
 * Give freed native memory back to the OS. pocketsphinx decoders, Silero sessions and audio
 * buffers are malloc'd by native code; after a burst of sessions is dropped glibc keeps the freed
 * pages in its per-thread arenas, so RSS stayed at the burst's peak (the ~4.2 GB plateau of issue
 * 15 item 11). malloc_trim(0) (glibc ≥ 2.8: all arenas) returns them.
 */
export function trimNativeHeap(): void {
  if (mallocTrim === undefined) {
    try {
      const c = loadLibc();
      mallocTrim = c ? (c.lib.func('int malloc_trim(size_t pad)') as (pad: number) => number) : null;
    } catch {
      mallocTrim = null;
    }
  }
  mallocTrim?.(0);
}
