/**
 * The real server (real listener, real worker threads) for the page tests, with the scripted
 * engine: the page and the API share one origin, as in production, and every burst of sound the
 * page sends comes back as the next script word with its true times.
 */
import { startTestServer, type TestServer } from '../helpers/server.ts';
import { scriptedEnv } from '../helpers/scripted.ts';

export type PageServer = TestServer;

export const PAGE_SCRIPT = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel'];

export function startPageServer(env: Record<string, string> = {}): Promise<PageServer> {
  return startTestServer({ ...scriptedEnv({ words: PAGE_SCRIPT }), ...env });
}
