// Piscina worker entry for audio analysis. Plain JS so that it loads without a TypeScript loader;
// when the tasks module is TypeScript (running from sources under tsx), tsx's ESM hooks are
// registered first through its public API, as the engine workers do.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

// A compiled build has tasks.js beside this file; sources have tasks.ts.
const JS = new URL('./tasks.js', import.meta.url);
const TASKS_URL = existsSync(fileURLToPath(JS)) ? JS : new URL('./tasks.ts', import.meta.url);

let tasks;
async function load() {
  if (!tasks) {
    if (TASKS_URL.pathname.endsWith('.ts')) {
      const api = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
      (await import(api)).register();
    }
    tasks = await import(TASKS_URL.href);
  }
  return tasks;
}

export default async function run(msg) {
  const mod = await load();
  return mod.runTask(msg);
}
