/**
 * `varscope` from a terminal (bin/varscope.js -> dist/cli.js): JSON out for scripts and CI.
 * Exit codes: 0 done, 1 the command failed (bad image, bad model, inference, out of memory), 2 usage error,
 * 128 + N after signal N.
 *
 * The engine runs in a child process, as in the extension: onnxruntime runs a graph synchronously on the thread
 * that calls it, so an engine in this process could hear no Ctrl-C until the graph returned (a graph that loops
 * forever: never), and an allocation failure inside it would end this process without a word. Here a signal stops
 * the engine at once, the watchdog bounds a stuck run, and a crash is one line.
 */
import { VarScopeError } from '../shared/errors';
import { EngineClient } from '../client/engineClient';
import { CommandSpec, helpText, num, parseArgs, UsageError } from './args';
import { benchEngine } from './benchmark';
import { checkOutputs, engineConfig, modelDir, onEngineEvent, runCommand, runExport, SPECS, writeJson } from './commands';
import { handleSignals, onHardStop } from './interrupt';
import { printProgress } from './evaluateCommand';
import { runMerge } from './mergeCommand';
import { printGridProgress } from './sampleGridCommand';

const BENCH: CommandSpec = {
  name: 'bench',
  summary: 'Time the engine on a model: open-image path, teacher-forced forward, generation, KV cache vs full recompute, RSS.',
  positionals: [],
  options: {
    ...SPECS.inspect.options,
    repeats: { help: 'timed runs per measurement (after one warm-up)', default: '5' },
    'sweep-threads': { help: 'comma-separated thread counts to compare, e.g. 1,2' },
  },
};

const ALL: Record<string, CommandSpec> = { ...SPECS, bench: BENCH };

function usage(): string {
  const lines = ['usage: varscope COMMAND [args] [--help] [--verbose]', '', 'commands:'];
  for (const s of Object.values(ALL)) lines.push(`  ${s.name.padEnd(11)} ${s.summary}`);
  lines.push('', '--verbose also prints why faster execution providers were skipped and what native libraries printed.');
  return lines.join('\n');
}

/** Run the CLI (bin/varscope.js calls this); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  // A reader that goes away (`| head`) is not an error of ours.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const spec = ALL[name];
  if (!spec) {
    process.stderr.write(`varscope: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  let client: EngineClient | undefined;
  try {
    const args = parseArgs(spec, rest);
    if (args.switches.has('help')) {
      process.stdout.write(helpText(spec) + '\n');
      return 0;
    }
    handleSignals(name);
    if (name === 'export') return await runExport(args.rest);
    checkOutputs(name, args);
    if (name === 'merge') {
      await writeJson(args, await runMerge(args)); // the parts hold all it needs: no engine
      return 0;
    }
    const config = engineConfig(args);
    if (name === 'bench') {
      const sweep = args.options['sweep-threads']?.split(',').map((s) => Number(s));
      if (sweep?.some((t) => !Number.isInteger(t) || t < 0))
        throw new UsageError('--sweep-threads must be a comma-separated list of integers');
      const r = await benchEngine(modelDir(args), config, { repeats: num(args, 'repeats', { int: true, min: 1 }), sweepThreads: sweep });
      await writeJson(args, r);
      return 0;
    }
    const verbose = process.env.VARSCOPE_VERBOSE === '1';
    const engine = new EngineClient({
      config,
      afterCrash: '',
      // What the engine prints on its own (native libraries) only with --verbose; a crash's reason is in its error.
      stderr: (text) => verbose && process.stderr.write(text),
    });
    client = engine;
    engine.on('evaluateFolder', printProgress);
    engine.on('samplingGrid', printGridProgress);
    engine.on('folderUsage', (p) => onEngineEvent('folderUsage', p));
    engine.on('log', (p) => onEngineEvent('log', p));
    onHardStop(() => engine.killNow('interrupted'));
    await runCommand(name, args, engine.api());
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`varscope ${name}: ${e.message}\n${e.withHelp ? `\n${helpText(spec)}\n` : ''}`);
      return 2;
    }
    if (e instanceof VarScopeError) {
      process.stderr.write(`varscope ${name}: ${e.message}\n`);
      if (process.env.VARSCOPE_DEBUG && e.detail) process.stderr.write(`${e.detail}\n`);
      return 1;
    }
    process.stderr.write(`varscope ${name}: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    return 1;
  } finally {
    await client?.dispose();
  }
}
