/**
 * Webhook delivery: one signed attempt through the UrlFetcher's SSRF-guarded agent. Retrying (with
 * backoff, up to COCHLEA_WEBHOOK_RETRIES) is the queue's job, so attempts survive restarts.
 *
 * Headers on every delivery:
 *   Idempotency-Key            the request id: identical on every retry and re-delivery, so a
 *                              receiver de-duplicates on it (delivery is at-least-once)
 *   X-Cochlea-Request-Id       the request id
 *   X-Cochlea-Timestamp        unix seconds when this attempt was signed
 *   X-Cochlea-Signature        `v1=<hex HMAC-SHA256(secret, "<timestamp>.<payload>")>`; during a
 *                              rotation a second `v1=` for the previous secret, comma-separated
 *   X-Cochlea-Delivery-Attempt 1, 2, ...
 * payload = the raw JSON body (POST), or the query string without `?` (GET: the result is not in the
 * request; the receiver fetches it from GET /waves/v1/jobs/<request_id>).
 */
import crypto from 'node:crypto';
import type { UrlFetcher } from '../server/url-fetch.ts';
import type { DeliveryResult, JobOutcome, JobSpec } from './types.ts';

export const SIGNATURE_HEADER = 'x-cochlea-signature';
export const TIMESTAMP_HEADER = 'x-cochlea-timestamp';

export function sign(secret: string, timestamp: number, payload: string): string {
  return crypto.createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex');
}

export function signatureHeader(secrets: string[], timestamp: number, payload: string): string {
  return secrets.map((s) => `v1=${sign(s, timestamp, payload)}`).join(',');
}

/**
 * Receiver side: true when one of the header's `v1=` signatures matches `secret` and the timestamp
 * is within `toleranceSeconds` of now (replay protection).
 */
export function verifySignature(secret: string, header: string, timestamp: string | number, payload: string, toleranceSeconds = 300, now = Date.now()): boolean {
  const ts = Number(timestamp);
  if (!Number.isFinite(ts) || Math.abs(now / 1000 - ts) > toleranceSeconds) return false;
  const want = Buffer.from(sign(secret, ts, payload), 'hex');
  return header.split(',').some((part) => {
    const m = /^\s*v1=([0-9a-f]{64})\s*$/.exec(part);
    return !!m && crypto.timingSafeEqual(Buffer.from(m[1], 'hex'), want);
  });
}

/** The JSON delivered for a finished job: the Pulse response (or error) with the request id and extras. */
export function webhookBody(spec: JobSpec, outcome: Pick<JobOutcome, 'body' | 'ok' | 'httpStatus'>): Record<string, unknown> {
  const body: Record<string, unknown> = { ...outcome.body, request_id: spec.id };
  if (!outcome.ok) body.http_status = outcome.httpStatus;
  if (Object.keys(spec.webhook.extra).length) body.webhook_extra = spec.webhook.extra;
  return body;
}

export class WebhookSender {
  constructor(
    private readonly fetcher: UrlFetcher,
    private readonly secrets: () => string[],
    private readonly timeoutMs: number,
  ) {}

  async deliver(spec: JobSpec, outcome: Pick<JobOutcome, 'body' | 'ok' | 'httpStatus'>, attempt: number): Promise<DeliveryResult> {
    const ts = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'idempotency-key': spec.id,
      'x-cochlea-request-id': spec.id,
      [TIMESTAMP_HEADER]: String(ts),
      'x-cochlea-delivery-attempt': String(attempt),
    };
    let url = spec.webhook.url;
    let body: string | undefined;
    let payload: string;
    if (spec.webhook.method === 'GET') {
      const u = new URL(url);
      u.searchParams.set('request_id', spec.id);
      u.searchParams.set('status', outcome.ok ? 'success' : 'error');
      for (const [k, v] of Object.entries(spec.webhook.extra)) u.searchParams.set(k, v);
      url = u.toString();
      payload = u.search.replace(/^\?/, '');
    } else {
      body = JSON.stringify(webhookBody(spec, outcome));
      payload = body;
      headers['content-type'] = 'application/json';
    }
    headers[SIGNATURE_HEADER] = signatureHeader(this.secrets(), ts, payload);
    try {
      const status = await this.fetcher.send(url, { method: spec.webhook.method, headers, body, timeoutMs: this.timeoutMs });
      if (status >= 200 && status < 300) return { delivered: true, retry: false, status };
      return { delivered: false, retry: status >= 500 || status === 408 || status === 429, status };
    } catch (e) {
      const err = e as Error & { cause?: { code?: string }; code?: string };
      // A target that resolves to a forbidden address will not get better: give up.
      const forbidden = /non-public address|private or local/.test(err.message) || err.cause?.code === 'ECOCHLEA_FORBIDDEN_ADDRESS';
      return { delivered: false, retry: !forbidden, error: err.cause?.code ?? err.code ?? err.message };
    }
  }
}
