/** The live page's HTTP side: served at / without a key, safe headers, assets, caching. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startPageServer, type PageServer } from './page-server.ts';

describe('live page (HTTP)', () => {
  let s: PageServer;
  before(async () => {
    s = await startPageServer();
  });
  after(() => s?.close());

  test('/ serves the page without a key, with a strict CSP and no-referrer', async () => {
    const res = await fetch(`${s.url}/`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.match(csp, /form-action 'none'/);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const html = await res.text();
    assert.match(html, /<label for="api-key">/);
    assert.match(html, /aria-live="polite"/);
    assert.doesNotMatch(html, /sk_[A-Za-z0-9]/, 'the page carries no key');
    // The key field is in no form and has no name: it can never be submitted into a URL.
    const keyInput = /<input id="api-key"[^>]*>/.exec(html)![0];
    assert.doesNotMatch(keyInput, /\sname=/);
    const forms = html.match(/<form[\s\S]*?<\/form>/g) ?? [];
    assert.ok(forms.every((f) => !f.includes('api-key')));
  });

  test('assets are served with their types and ETags; the API stays protected', async () => {
    for (const [p, type] of [
      ['/web/app.js', /javascript/],
      ['/web/pcm-worklet.js', /javascript/],
      ['/web/style.css', /text\/css/],
    ] as const) {
      const res = await fetch(`${s.url}${p}`);
      assert.equal(res.status, 200, p);
      assert.match(res.headers.get('content-type')!, type);
      const etag = res.headers.get('etag')!;
      assert.ok(etag);
      await res.arrayBuffer();
      const again = await fetch(`${s.url}${p}`, { headers: { 'if-none-match': etag } });
      assert.equal(again.status, 304);
    }
    assert.equal((await fetch(`${s.url}/web/../config.ts`)).status, 404);
    assert.equal((await fetch(`${s.url}/web/nope.js`)).status, 404);
    const api = await fetch(`${s.url}/waves/v1/pulse/get_text`, { method: 'POST', body: new Uint8Array(10) });
    assert.equal(api.status, 401, 'mounting the page did not open the API');
  });
});
