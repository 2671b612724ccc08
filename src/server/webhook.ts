/**
 * `webhook_url`: after answering the request, POST the same JSON to the webhook (through the same
 * SSRF-guarded agent as URL fetches), retrying transient failures with backoff.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { UrlFetcher } from './url-fetch.ts';
import { reportWebhook } from './metrics.ts';

export function deliverWebhook(fetcher: UrlFetcher, url: string, body: unknown, log: FastifyBaseLogger, attempts = 3): void {
  void (async () => {
    for (let i = 0; i < attempts; i++) {
      try {
        const status = await fetcher.postJson(url, body);
        if (status < 500) {
          log.info({ webhook: url, status }, 'webhook delivered');
          reportWebhook('delivered');
          return;
        }
        log.warn({ webhook: url, status }, 'webhook answered with a server error');
      } catch (err) {
        log.warn({ webhook: url, err: (err as Error).message }, 'webhook delivery failed');
      }
      if (i + 1 < attempts) reportWebhook('retry');
      await new Promise((r) => setTimeout(r, 500 * 2 ** i));
    }
    log.error({ webhook: url }, 'webhook delivery gave up');
    reportWebhook('failed');
  })();
}
