/**
 * Builds the optional native EM kernel (native/binding.gyp) with the node-gyp that npm bundles. The
 * `install` script runs it, so `npm ci` in a clone and `npm install lensemble` build it;
 * `npm run build:native` runs it alone. It never fails: without a compiler, headers or a supported platform lensemble
 * uses its WebAssembly pass instead, and this prints one line saying so. node-gyp's output goes to
 * native/build/build.log. LENSEMBLE_SKIP_NATIVE=1 skips the build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const nativeDir = dirname(fileURLToPath(import.meta.url));
const buildDir = join(nativeDir, 'build');
const logPath = join(buildDir, 'build.log');
const addonPath = join(buildDir, 'Release', 'lensemble_em.node');
const say = (line) => console.log(`lensemble: ${line}`);

/** npm hands its node-gyp to scripts in npm_config_node_gyp; otherwise look beside this Node's npm. */
function findNodeGyp() {
  const prefix = dirname(dirname(process.execPath));
  const candidates = [
    process.env.npm_config_node_gyp,
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((c) => c && existsSync(c));
}

/**
 * node-gyp downloads Node's headers unless told where they are; a Node installed with its headers
 * (<prefix>/include/node) builds offline. An npm `nodedir` setting (npm_config_nodedir) wins.
 */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = dirname(dirname(process.execPath));
  return existsSync(join(prefix, 'include', 'node', 'common.gypi')) ? [`--nodedir=${prefix}`] : [];
}

function run(nodeGyp, args, log) {
  const result = spawnSync(process.execPath, [nodeGyp, ...args], { cwd: nativeDir, encoding: 'utf8', timeout: 600_000 });
  log.push(`$ node-gyp ${args.join(' ')}`, result.stdout ?? '', result.stderr ?? '');
  if (result.error) return `node-gyp ${args[0]}: ${result.error.message}`;
  if (result.status !== 0) {
    const lines = `${result.stderr}\n${result.stdout}`.split('\n').map((l) => l.trim());
    const reason = lines.find((l) => /error[: ]/i.test(l) && !/^gyp ERR! (stack|System|command|cwd|node -v|node-gyp -v|not ok)/.test(l));
    return reason ?? `node-gyp ${args[0]} exited with ${result.status}`;
  }
  return undefined;
}

function build() {
  if (process.env.LENSEMBLE_SKIP_NATIVE) return say('native EM kernel not built (LENSEMBLE_SKIP_NATIVE is set); EM traces use the WebAssembly pass');
  const nodeGyp = findNodeGyp();
  const log = [];
  // configure + build (not rebuild): an unchanged kernel is not compiled again on the next install.
  const failure = nodeGyp
    ? run(nodeGyp, ['configure', ...nodedirArgs()], log) ?? run(nodeGyp, ['build', '--jobs=max'], log)
    : 'node-gyp not found (run this through npm, which bundles it)';
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(logPath, log.join('\n'));
  if (failure) {
    // an addon left from an earlier build would not match these sources
    rmSync(addonPath, { force: true });
    return say(`native EM kernel not built (${failure}); EM traces use the WebAssembly pass. Details: ${logPath}`);
  }
  try {
    const isas = createRequire(import.meta.url)(addonPath).isas().map((i) => i.name);
    say(`native EM kernel built (${isas.join(', ')} on this processor)`);
  } catch (err) {
    say(`native EM kernel built but does not load (${String(err.message).split('\n')[0]}); EM traces use the WebAssembly pass`);
  }
}

build();
