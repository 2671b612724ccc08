/**
 * Bytes the C allocator holds for live allocations, process-wide (every thread's arena), from
 * glibc's `mallinfo2()`: `uordblks` (in use in the arenas) + `hblkhd` (in mmap'd chunks).
 *
 * Why not RSS: glibc keeps freed memory in per-thread arenas, so RSS settles at a high-water mark
 * that depends on how allocations from two decoder threads interleaved, and moves by tens of MB
 * between identical runs. In-use bytes move only when native memory (decoders, LMs, audio buffers)
 * is really held, which is what a leak check and a per-session memory figure need.
 *
 * `undefined` where there is no glibc (musl, macOS): callers fall back to RSS.
 */
import koffi from 'koffi';

type MallInfo2 = { uordblks: number | bigint; hblkhd: number | bigint };
let probe: (() => MallInfo2) | null | undefined;

export function nativeHeapInUse(): number | undefined {
  if (probe === undefined) {
    try {
      const libc = koffi.load('libc.so.6');
      const st = koffi.struct('cochlea_mallinfo2', {
        arena: 'size_t', ordblks: 'size_t', smblks: 'size_t', hblks: 'size_t', hblkhd: 'size_t',
        usmblks: 'size_t', fsmblks: 'size_t', uordblks: 'size_t', fordblks: 'size_t', keepcost: 'size_t',
      });
      probe = libc.func('mallinfo2', st, []) as () => MallInfo2;
    } catch {
      probe = null;
    }
  }
  if (!probe) return undefined;
  const m = probe();
  return Number(m.uordblks) + Number(m.hblkhd);
}
