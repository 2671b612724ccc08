/**
 * `npm run bench [-- --quick] [-- --only batch,audio]`: runs every bench section in one process,
 * one after another (never concurrently: the machine has two cores), and writes
 * bench/results/report.json and report.md.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, SHARED_DIR, type BenchContext, type BenchSection } from './lib.ts';

const SECTIONS = ['batch', 'audio', 'streaming', 'capacity', 'sherpa', 'jobs'] as const;

function fmt(v: number | string | boolean): string {
  if (typeof v !== 'number') return String(v);
  if (!Number.isFinite(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(3);
}

function toMarkdown(sections: BenchSection[], meta: Record<string, string | number>): string {
  const out: string[] = ['# Cochlea benchmark report', ''];
  for (const [k, v] of Object.entries(meta)) out.push(`- ${k}: ${v}`);
  for (const s of sections) {
    out.push('', `## ${s.name}`, '', '| metric | value |', '|---|---|');
    for (const [k, v] of Object.entries(s.metrics)) out.push(`| ${k} | ${fmt(v)} |`);
    for (const t of s.tables ?? []) {
      out.push('', `### ${t.title}`, '', `| ${t.columns.join(' | ')} |`, `|${t.columns.map(() => '---').join('|')}|`);
      for (const r of t.rows) out.push(`| ${r.map(fmt).join(' | ')} |`);
    }
    if (s.notes?.length) out.push('', ...s.notes.map((n) => `> ${n}`));
  }
  return out.join('\n') + '\n';
}

async function main() {
  const args = process.argv.slice(2);
  const quick = args.includes('--quick');
  const onlyArg = args.find((a) => a.startsWith('--only'));
  const only = onlyArg ? (onlyArg.includes('=') ? onlyArg.split('=')[1] : args[args.indexOf(onlyArg) + 1]).split(',') : undefined;
  const ctx: BenchContext = { quick, sharedDir: SHARED_DIR, log: (m) => process.stderr.write(`[bench] ${m}\n`) };
  const sections: BenchSection[] = [];
  for (const name of SECTIONS) {
    if (only && !only.includes(name)) continue;
    const file = path.join(REPO_ROOT, 'bench', `${name}.ts`);
    if (!fs.existsSync(file)) continue;
    ctx.log(`running ${name}`);
    const mod = (await import(file)) as { run: (c: BenchContext) => Promise<BenchSection> };
    try {
      sections.push(await mod.run(ctx));
    } catch (e) {
      ctx.log(`${name} failed: ${(e as Error).stack}`);
      sections.push({ name, metrics: { error: (e as Error).message } });
      process.exitCode = 1;
    }
  }
  const meta = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    mode: quick ? 'quick' : 'full',
  };
  const dir = path.join(REPO_ROOT, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'report.json'), JSON.stringify({ meta, sections }, null, 2));
  fs.writeFileSync(path.join(dir, 'report.md'), toMarkdown(sections, meta));
  process.stdout.write(toMarkdown(sections, meta));
  ctx.log(`wrote ${path.relative(process.cwd(), dir)}/report.{json,md}`);
  // Worker threads or sockets left by a section must not keep the bench alive.
  process.exit(process.exitCode ?? 0);
}

void main();
