/** Small PCM helpers shared by the audio and engine layers. */

/** Join float32 blocks into one; returns the single block itself when there is only one. */
export function concatFloat32(parts: Float32Array[], total?: number): Float32Array {
  if (parts.length === 1 && (total === undefined || total === parts[0].length)) return parts[0];
  const n = total ?? parts.reduce((a, p) => a + p.length, 0);
  const out = new Float32Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
