/**
 * The real server (real engine, real listener) for the page tests: the page and the API share
 * one origin, as in production.
 */
import { startTestServer, type TestServer } from '../helpers/server.ts';

export type PageServer = TestServer;

export function startPageServer(env: Record<string, string> = {}): Promise<PageServer> {
  return startTestServer(env);
}
