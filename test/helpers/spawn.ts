/** Run the real `cochlea` CLI as a child process and find the port it listens on. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from './speech.ts';

export interface Spawned {
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export async function spawnServer(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<Spawned> {
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'bin', 'cochlea.js'), 'serve', ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH!, HOST: '127.0.0.1', PORT: '0', COCHLEA_WORKERS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${timeoutMs} ms\n${out}\n${err}`)), timeoutMs);
    const check = () => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout!.on('data', check);
    void exit.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited early (code ${code})\n${out}\n${err}`));
    });
  });
  return { child, url, stdout: () => out, stderr: () => err, exit };
}
