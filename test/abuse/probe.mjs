// Preloaded into the server under attack (NODE_OPTIONS=--import): samples the main thread's
// event-loop delay and the process RSS, and writes them to $COCHLEA_ABUSE_PROBE every 250 ms.
// The abuse suite resets the peak between phases by writing "reset" to $COCHLEA_ABUSE_PROBE.in.
import fs from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { monitorEventLoopDelay } from 'node:perf_hooks';

const out = process.env.COCHLEA_ABUSE_PROBE;
if (isMainThread && out) {
  const h = monitorEventLoopDelay({ resolution: 5 });
  h.enable();
  let peakRss = 0;
  const t = setInterval(() => {
    try {
      if (fs.existsSync(out + '.in')) {
        fs.rmSync(out + '.in');
        h.reset();
        peakRss = 0;
      }
    } catch {}
    const rss = process.memoryUsage().rss;
    peakRss = Math.max(peakRss, rss);
    fs.writeFileSync(out + '.tmp', JSON.stringify({ loopMaxMs: h.max / 1e6, loopP99Ms: h.percentile(99) / 1e6, rssMB: rss / 2 ** 20, peakRssMB: peakRss / 2 ** 20 }));
    fs.renameSync(out + '.tmp', out); // atomic: the suite never reads a half-written file
  }, 250);
  t.unref();
}
