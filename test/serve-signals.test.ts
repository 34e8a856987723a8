// `npx lensemble serve` as README shows it, in a project that has lensemble installed: npm runs the bin through
// `sh -c`, forwards SIGTERM to that shell only, and the shell dies without passing it on. The server must
// still stop, free its port and leave no process behind.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trainSmallRiceModel } from './support/rice.js';
import { SHARED_DIR } from './support/shared.js';

const work = mkdtempSync(join(tmpdir(), 'lensemble-signals-test-'));
const cacheDir = join(work, 'cache');
const project = join(work, 'project');
const repo = resolve('.');

/** A project folder as `npm install lensemble` leaves it: the package (built from this checkout) and its bin link. */
function installIntoProject(): void {
  const pkg = join(project, 'node_modules', 'lensemble');
  mkdirSync(join(project, 'node_modules', '.bin'), { recursive: true });
  execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(repo, 'tsconfig.build.json'), '--outDir', join(pkg, 'dist')], { stdio: 'pipe' });
  cpSync(join(repo, 'bin'), join(pkg, 'bin'), { recursive: true });
  cpSync(join(repo, 'package.json'), join(pkg, 'package.json'));
  symlinkSync(join(repo, 'node_modules'), join(pkg, 'node_modules'));
  symlinkSync('../lensemble/bin/lensemble.js', join(project, 'node_modules', '.bin', 'lensemble'));
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'leaf-app', version: '1.0.0', private: true, dependencies: { lensemble: '*' }, scripts: { serve: 'lensemble serve' } }));
}

/** Processes whose command line mentions `marker` (this test's own folder), by pid. */
function processesMentioning(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

const portIsFree = (port: number): Promise<boolean> =>
  new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.destroy();
      done(false);
    });
    socket.on('error', () => done(true));
  });

async function waitFor(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await check()) return true;
  return check();
}

describe.skipIf(!SHARED_DIR)('stopping `npx lensemble serve`', () => {
  let model: string;

  beforeAll(async () => {
    model = await trainSmallRiceModel(work, cacheDir);
    installIntoProject();
  }, 300_000);

  afterAll(() => {
    for (const pid of processesMentioning(work)) process.kill(pid, 'SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  it.each([
    ['npx', ['lensemble', 'serve']],
    ['npm', ['run', 'serve', '--']],
  ])('%s: SIGTERM to npm frees the port and leaves no process', async (command, args) => {
    const npm = spawn(command, [...args, '--model', model, '--port', '0', '--cache-dir', cacheDir, '--quiet'], {
      cwd: project,
      env: { ...process.env, LENSEMBLE_SHARED: SHARED_DIR },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (c: Buffer) => (output += c.toString()));
    npm.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const npmExited = new Promise<void>((done) => npm.on('exit', () => done()));
    expect(await waitFor(() => /http:\/\/127\.0\.0\.1:\d+/.test(output), 60_000), output).toBe(true);
    const port = Number(/http:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1]);
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ ok: true });
    expect(processesMentioning(model).length).toBeGreaterThanOrEqual(2); // npm, and the server under it

    npm.kill('SIGTERM');
    await npmExited;
    expect(await waitFor(() => portIsFree(port), 10_000), `port ${port} still open after SIGTERM`).toBe(true);
    expect(await waitFor(() => processesMentioning(model).length === 0, 10_000), `left running: ${processesMentioning(model).join(', ')}`).toBe(true);
  }, 90_000);
});
