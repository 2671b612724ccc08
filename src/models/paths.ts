/**
 * Where models live: $COCHLEA_MODELS_DIR, else $XDG_CACHE_HOME/cochlea/models, else
 * ~/.cache/cochlea/models (the XDG Base Directory default). Each installed model is a directory
 * named after its catalog entry, holding the bundle's files and `.cochlea-model.json` (the
 * install manifest). Work in progress lives under `.partial/` (resumable downloads) and
 * `.tmp/` (extraction), both on the same filesystem so the final step is an atomic rename.
 */
import os from 'node:os';
import path from 'node:path';
import { processEnv } from '../config.ts';

export function defaultModelsDir(env: NodeJS.ProcessEnv = processEnv()): string {
  if (env.COCHLEA_MODELS_DIR) return path.resolve(env.COCHLEA_MODELS_DIR);
  const cache = env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)
    ? env.XDG_CACHE_HOME
    : path.join(os.homedir(), '.cache');
  return path.join(cache, 'cochlea', 'models');
}

export const MANIFEST_FILE = '.cochlea-model.json';

export function modelDir(modelsDir: string, name: string): string {
  return path.join(modelsDir, name);
}

export function partialDir(modelsDir: string): string {
  return path.join(modelsDir, '.partial');
}

export function tmpDir(modelsDir: string): string {
  return path.join(modelsDir, '.tmp');
}

export function lockDir(modelsDir: string): string {
  return path.join(modelsDir, '.locks');
}
