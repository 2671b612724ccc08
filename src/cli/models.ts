/**
 * `cochlea models list | pull <name> | verify [name] | remove <name>`.
 * The lead wires `registerModelsCommand(program)` into the `cochlea` CLI.
 */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { ModelManager, type PullEvent } from '../models/manager.ts';
import { capabilities, describeCapabilities } from '../models/startup.ts';

function mb(bytes: number | undefined): string {
  return bytes === undefined ? '?' : (bytes / 1024 / 1024).toFixed(1);
}

function manager(opts: { dir?: string }): ModelManager {
  return new ModelManager(opts.dir ? { modelsDir: opts.dir } : {});
}

export function registerModelsCommand(program: Command): Command {
  const models = program
    .command('models')
    .description('manage neural model bundles (sherpa-onnx) in the model cache')
    .option('--dir <path>', 'models directory (default: $COCHLEA_MODELS_DIR or $XDG_CACHE_HOME/cochlea/models)');

  models
    .command('list')
    .description('list catalog models and which are installed')
    .option('--json', 'machine-readable output')
    .action((o: { json?: boolean }) => {
      const m = manager(models.opts());
      const rows = m.list();
      if (o.json) {
        process.stdout.write(JSON.stringify(rows.map((r) => ({ ...r.entry, installed: r.installed, dir: r.dir })), null, 2) + '\n');
        return;
      }
      process.stdout.write(`models directory: ${m.modelsDir}\n`);
      for (const r of rows) {
        const e = r.entry;
        const size = e.sizeBytes ? `${mb(e.sizeBytes)} MB` : e.approxSizeMB ? `~${e.approxSizeMB} MB` : '';
        const langs = e.languages.length > 8 ? `${e.languages.slice(0, 8).join(',')},… (${e.languages.length})` : e.languages.join(',');
        const mode = [e.streaming ? 'streaming' : '', e.batch ? 'batch' : ''].filter(Boolean).join('+');
        process.stdout.write(
          `${r.installed ? '*' : ' '} ${e.name.padEnd(40)} ${e.kind.padEnd(20)} ${mode.padEnd(16)} ${size.padEnd(10)} ${langs}  [${e.license}]\n`,
        );
      }
      process.stdout.write('\n' + describeCapabilities(capabilities(m)).join('\n') + '\n');
    });

  models
    .command('pull <name>')
    .description('download, verify and install a model')
    .option('--force', 're-download even if installed')
    .action(async (name: string, o: { force?: boolean }) => {
      const m = manager(models.opts());
      const interactive = process.stderr.isTTY;
      const bar = new cliProgress.SingleBar(
        { format: `${name} [{bar}] {percentage}% | {value}/{total} MB | {eta_formatted}`, hideCursor: true, stream: process.stderr, noTTYOutput: false },
        cliProgress.Presets.shades_classic,
      );
      let started = false;
      let lastLog = 0;
      const ac = new AbortController();
      const onSig = () => ac.abort();
      process.once('SIGINT', onSig);
      const onEvent = (e: PullEvent) => {
        if (e.phase === 'download' && e.progress) {
          const total = e.progress.total !== undefined ? Number(mb(e.progress.total)) : 0;
          const value = Number(mb(e.progress.received));
          if (interactive) {
            if (!started) {
              bar.start(total, value);
              started = true;
            } else {
              if (total) bar.setTotal(total);
              bar.update(value);
            }
          } else if (Date.now() - lastLog > 5000) {
            lastLog = Date.now();
            process.stderr.write(`${name}: ${value}/${total || '?'} MB\n`);
          }
          return;
        }
        if (started) {
          bar.stop();
          started = false;
        }
        if (e.phase === 'waiting') process.stderr.write(`${name}: another pull (pid ${e.owner?.pid}) holds the lock, waiting…\n`);
        else if (e.phase === 'cached') process.stderr.write(`${name}: already installed (use --force to re-download)\n`);
        else if (e.phase !== 'download') process.stderr.write(`${name}: ${e.phase}\n`);
      };
      try {
        const s = await m.pull(name, { force: o.force, onEvent, signal: ac.signal });
        process.stdout.write(`${name} installed in ${s.dir}${s.manifest && !s.manifest.pinned ? ` (sha256 ${s.manifest.downloadSha256} recorded; no published digest to check against)` : ''}\n`);
      } catch (err) {
        if (started) bar.stop();
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exitCode = 1;
      } finally {
        process.off('SIGINT', onSig);
      }
    });

  models
    .command('verify [name]')
    .description('re-hash installed model files against their install manifest')
    .action(async (name: string | undefined) => {
      const m = manager(models.opts());
      try {
        const results = await m.verify(name);
        if (results.length === 0) process.stdout.write('no models installed\n');
        for (const r of results) {
          process.stdout.write(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}${r.problems.length ? '\n      ' + r.problems.join('\n      ') : ''}\n`);
        }
        if (results.some((r) => !r.ok)) process.exitCode = 1;
      } catch (err) {
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });

  models
    .command('remove <name>')
    .description('delete an installed model (and any partial download)')
    .action(async (name: string) => {
      const m = manager(models.opts());
      try {
        const removed = await m.remove(name);
        process.stdout.write(removed ? `${name} removed\n` : `${name} was not installed\n`);
      } catch (err) {
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });

  return models;
}
