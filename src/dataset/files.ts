import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

// Not images: metadata that tools and OSes leave in image folders. Anything else is tried as an image
// (formats are detected by content) and reported if it is not one.
const NOT_IMAGE = /\.(txt|csv|json|jsonl|md|xml|ya?ml|db|ini|html?|py|ipynb|zip|tar|gz|pdf)$/i;

export function looksLikeImageFile(name: string): boolean {
  return !name.startsWith('.') && !NOT_IMAGE.test(name);
}

/** Image-like files directly inside `dir`, sorted by name. */
export async function listImageFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && looksLikeImageFile(e.name))
    .map((e) => e.name)
    .sort();
}

export async function listSubdirectories(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
}

export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Every image-like file under `dir`, recursively, as paths relative to `dir`. */
export async function walkImageFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const rel = prefix ? join(prefix, entry.name) : entry.name;
    if (entry.isDirectory()) out.push(...(await walkImageFiles(dir, rel)));
    else if (looksLikeImageFile(entry.name)) out.push(rel);
  }
  return out.sort();
}
