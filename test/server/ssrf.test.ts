import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UrlFetcher, embeddedIPv4, isPublic } from '../../src/server/url-fetch.ts';
import ipaddr from 'ipaddr.js';

const fetcher = () => new UrlFetcher({ allow: [], maxBytes: 1024, timeoutMs: 1000, maxRedirects: 2 });

test('IPv6 forms that embed IPv4 are judged by the IPv4 address they reach', () => {
  // Each of these reaches a loopback, private or metadata IPv4 address.
  for (const ip of [
    '::7f00:1', // IPv4-compatible 127.0.0.1 (what http://[::127.0.0.1]/ normalises to)
    '::a9fe:a9fe', // IPv4-compatible 169.254.169.254
    '::ffff:127.0.0.1', // mapped
    '64:ff9b::7f00:1', // NAT64
    '64:ff9b:1::a00:1', // local-use NAT64, 10.0.0.1
    '2002:7f00:1::', // 6to4 of 127.0.0.1
    '2002:c0a8:101::1', // 6to4 of 192.168.1.1
    '2001:0:4136:e378:8000:63bf:80ff:fffe', // Teredo, client 127.0.0.1
  ]) {
    assert.equal(isPublic(ip), false, ip);
    assert.ok(embeddedIPv4(ipaddr.IPv6.parse(ip)), `${ip} embeds IPv4`);
  }
  // The same forms around public IPv4 addresses stay usable; plain IPv6 is unaffected.
  for (const ip of ['::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::', '2001:4860:4860::8888']) assert.equal(isPublic(ip), true, ip);
  assert.equal(isPublic('::1'), false);
  assert.equal(isPublic('::'), false);
});

test('audio URLs and webhook URLs with embedded private IPv4 literals are refused', () => {
  const f = fetcher();
  for (const url of ['http://[::7f00:1]/a.wav', 'http://[::127.0.0.1]/a.wav', 'http://[::ffff:7f00:1]:8080/a.wav', 'http://[64:ff9b::a9fe:a9fe]/latest', 'http://[2002:7f00:1::1]/a.wav']) {
    assert.throws(() => f.validate(url), (e: { statusCode?: number }) => e.statusCode === 400, url);
  }
  assert.doesNotThrow(() => f.validate('http://[2001:4860:4860::8888]/a.wav'));
});

test('an allow-listed IPv4 range also admits its IPv4-compatible IPv6 spelling', () => {
  const f = new UrlFetcher({ allow: ['127.0.0.0/8'], maxBytes: 1024, timeoutMs: 1000, maxRedirects: 2 });
  assert.doesNotThrow(() => f.validate('http://[::7f00:1]/a.wav'));
  assert.doesNotThrow(() => f.validate('http://127.0.0.1/a.wav'));
});
