/**
 * A real browser (Debian's chromium, headless) opens the live page, the user's key is entered,
 * the microphone (a fake device playing a WAV once) is started, and the live captions must show
 * what the server recognized, with word timings. Also uploads a file for batch. A screenshot is
 * kept in test-artifacts/. The server runs the scripted engine (page-server.ts): the WAV is six
 * bursts of tone, which must come back as the script's first six words, in order, at their times.
 *
 * Needs /usr/bin/chromium (apt-get install chromium) and playwright-core (drives the installed
 * browser; never downloads one). Skips with a reason when either is missing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from '../helpers/speech.ts';
import { bursts, burstsWav } from '../helpers/scripted.ts';
import { PAGE_SCRIPT, startPageServer, type PageServer } from './page-server.ts';

const CHROMIUM = process.env.COCHLEA_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');

type Playwright = typeof import('playwright-core');
let pw: Playwright | undefined;
try {
  pw = await import('playwright-core');
} catch {
  pw = undefined;
}
const skip =
  (!fs.existsSync(CHROMIUM) ? `browser test skipped: ${CHROMIUM} not found (apt-get install -y chromium)` : false) ||
  (!pw ? 'browser test skipped: playwright-core is not installed (npm install --no-save playwright-core)' : false);

const norm = (s: string) => s.toLowerCase().replace(/[^a-z' ]+/g, ' ').split(/\s+/).filter(Boolean);

describe('live captions page in a real browser', { skip }, () => {
  let s: PageServer;
  let userDir: string;
  // The microphone plays six 0.3 s bursts 0.3 s apart (then silence: the endpoint commits a final).
  const MIC = { n: 6, burst: 0.3, gap: 0.3, lead: 0.5, tail: 0.5 };
  const mic = bursts(MIC.n, MIC);
  const clip = { audio: '', duration_s: mic.duration };
  const upload = { audio: '', name: 'three-bursts.wav' };
  before(async () => {
    s = await startPageServer();
    userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cochlea-chromium-'));
    clip.audio = path.join(userDir, 'mic.wav');
    fs.writeFileSync(clip.audio, burstsWav(MIC.n, MIC));
    upload.audio = path.join(userDir, upload.name);
    fs.writeFileSync(upload.audio, burstsWav(3));
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });
  after(async () => {
    await s?.close();
    if (userDir) fs.rmSync(userDir, { recursive: true, force: true });
  });

  test('microphone → live partials and finals with word timings; file upload; key never in the page URL', { timeout: 120_000 }, async () => {
    const context = await pw!.chromium.launchPersistentContext(userDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${clip.audio}%noloop`,
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--no-first-run',
        '--disable-sync',
      ],
    });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const consoleErrors: string[] = [];
      page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
      page.on('pageerror', (e) => consoleErrors.push(String(e)));
      const wsUrls: string[] = [];
      page.on('websocket', (ws) => wsUrls.push(ws.url()));
      const posts: { url: string; auth?: string }[] = [];
      page.on('request', (r) => r.method() === 'POST' && posts.push({ url: r.url(), auth: r.headers().authorization }));
      // Record every partial the page shows.
      await page.addInitScript(() => {
        (window as any).__partials = [];
        new MutationObserver(() => {
          const t = document.getElementById('partial')?.textContent;
          if (t) (window as any).__partials.push(t);
        }).observe(document, { subtree: true, childList: true, characterData: true });
      });

      await page.goto(`${s.url}/`);
      await page.getByLabel('API key').fill(s.key);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('cochlea.apiKey')), s.key, 'key kept in sessionStorage');

      const t0 = Date.now();
      await page.getByRole('button', { name: 'Start microphone' }).click();
      await page.getByRole('button', { name: 'Stop microphone' }).waitFor({ timeout: 10_000 });
      // The clip plays once, then silence: endpointing commits a final.
      const finals = page.locator('#finals li');
      await finals.first().waitFor({ timeout: 30_000 });
      const firstFinalMs = Date.now() - t0;
      await page.getByRole('button', { name: 'Stop microphone' }).click();
      await page.getByRole('button', { name: 'Start microphone' }).waitFor({ timeout: 20_000 });

      const captionText = (await finals.allTextContents()).join(' ');
      const shown = norm(await page.locator('#finals .w').evaluateAll((els) => els.map((e) => e.firstChild?.textContent ?? '').join(' ')));
      // Every burst the microphone played is a caption word, in order (a burst cut by the
      // microphone's start-up may come back as two words, so the script may run on past six).
      assert.deepEqual(shown.slice(0, 4), PAGE_SCRIPT.slice(0, 4).map((w) => w), `captions "${captionText}"`);
      assert.ok(shown.length >= MIC.n && shown.length <= MIC.n + 1, `captions "${captionText}" for ${MIC.n} bursts`);

      // Word timings: numeric, ordered, a burst long, spaced like the bursts (the session starts
      // when the microphone does, so the offset is the start-up latency, the same for every word).
      const times = await page.locator('#finals .w').evaluateAll((els) => els.map((e) => [Number((e as HTMLElement).dataset.start), Number((e as HTMLElement).dataset.end)]));
      assert.equal(times.length, shown.length);
      for (let i = 0; i < times.length; i++) {
        assert.ok(times[i][1] >= times[i][0], 'end ≥ start');
        if (i) assert.ok(times[i][0] >= times[i - 1][1] - 1e-6, 'words in time order');
      }
      const last = times.slice(-4);
      for (let i = 1; i < last.length; i++) {
        const step = last[i][0] - last[i - 1][0];
        assert.ok(Math.abs(step - (MIC.burst + MIC.gap)) < 0.08, `bursts ${MIC.burst + MIC.gap} s apart, words ${step.toFixed(3)} s apart`);
        assert.ok(Math.abs(last[i][1] - last[i][0] - MIC.burst) < 0.08, `word length ${(last[i][1] - last[i][0]).toFixed(3)} s`);
      }
      assert.ok(times.at(-1)![1] < clip.duration_s + 5, `word times are session-relative: ${times.at(-1)}`);
      await page.getByLabel('Show word timings').check();
      assert.equal(await page.locator('#finals .w small').first().isVisible(), true);

      const partials: string[] = await page.evaluate(() => (window as any).__partials);
      assert.ok(partials.length >= 1, 'partials were shown while speaking');

      await page.screenshot({ path: path.join(ARTIFACTS, 'live-captions.png'), fullPage: true });

      // Batch upload of a file: Authorization header, no token in the URL.
      await page.getByLabel('Audio file').setInputFiles(upload.audio);
      await page.getByRole('button', { name: 'Transcribe' }).click();
      await page.locator('#batch-result p').waitFor({ timeout: 30_000 });
      assert.equal(norm((await page.locator('#batch-result p').textContent()) ?? '').join(' '), 'alpha bravo charlie');
      assert.match(await page.locator('#batch-status').textContent() ?? '', /three-bursts\.wav/);
      await page.screenshot({ path: path.join(ARTIFACTS, 'live-captions-batch.png'), fullPage: true });

      // Where the key went.
      assert.ok(!page.url().includes(s.key), 'never in the page URL');
      assert.equal(wsUrls.length, 1);
      assert.ok(wsUrls[0].includes(`token=${s.key}`), 'in the WebSocket URL, where browsers need it');
      const post = posts.find((p) => p.url.includes('/waves/v1/pulse/get_text'))!;
      assert.equal(post.auth, `Bearer ${s.key}`);
      assert.ok(!post.url.includes('token='), 'batch sends the key as a header only');
      assert.deepEqual(consoleErrors, []);
      process.stderr.write(`# browser: first final ${firstFinalMs} ms after start (mic audio ${clip.duration_s.toFixed(1)} s); captions: "${captionText}"; ${partials.length} partial updates\n`);
    } finally {
      await context.close();
    }
  });
});
