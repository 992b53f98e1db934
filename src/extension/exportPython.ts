/**
 * The Python that exports checkpoints: the `varscope.pythonPath` setting, else the interpreter selected in the Python
 * extension, else what pythonFinder finds; looked for once per (setting, selection) pair.
 */
import * as vscode from 'vscode';
import { pythonPackageDir, type PythonRun } from '../client/checkpointExport';
import { findPython, pythonCandidates, type PythonCandidate } from '../client/pythonFinder';

/** Finds the exporter's Python and says how to run it. */
export class ExportPython {
  private found: { key: string; command: string } | undefined;

  constructor(
    private readonly extensionPath: string,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  /** How to run the exporter; `stage` names the search when one runs, `signal` stops the exporter. */
  async run(stage: (message: string) => void, signal: AbortSignal): Promise<PythonRun> {
    const setting = vscode.workspace.getConfiguration('varscope').get<string>('pythonPath', '').trim();
    const editor = await pythonFromExtension();
    const key = `${setting}|${editor ?? ''}`;
    if (this.found?.key !== key) {
      stage('find Python');
      const explicit: PythonCandidate | undefined = setting ? { command: setting, source: 'varscope.pythonPath setting' } : undefined;
      const choice = await findPython(
        pythonCandidates({ explicit, editor: editor ? { command: editor, source: 'Python extension' } : undefined }),
        { log: (l) => this.log.info(l) },
      );
      this.found = { key, command: choice.found.command };
    }
    return {
      python: this.found.command,
      packageDir: pythonPackageDir(this.extensionPath),
      signal,
      onLine: (line, stream) => (stream === 'stderr' ? this.log.warn(`exporter: ${line}`) : this.log.info(`exporter: ${line}`)),
    };
  }
}

/** The interpreter selected in the Python extension (ms-python.python), if it is installed; never throws. */
async function pythonFromExtension(): Promise<string | undefined> {
  const ext = vscode.extensions.getExtension('ms-python.python');
  if (!ext) return undefined;
  type Api = {
    environments?: {
      getActiveEnvironmentPath?: (resource?: vscode.Uri) => { path: string } | undefined;
      resolveEnvironment?: (env: { path: string }) => Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
    };
    settings?: { getExecutionDetails?: (resource?: vscode.Uri) => { execCommand?: string[] } };
  };
  try {
    const activated = ext.isActive ? Promise.resolve(ext.exports as Api) : (ext.activate() as Thenable<Api>);
    const api = await Promise.race([activated, new Promise<undefined>((r) => setTimeout(() => r(undefined), 10000))]);
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const envPath = api?.environments?.getActiveEnvironmentPath?.(resource);
    if (envPath) {
      const env = await api?.environments?.resolveEnvironment?.(envPath);
      return env?.executable?.uri?.fsPath ?? envPath.path;
    }
    return api?.settings?.getExecutionDetails?.(resource)?.execCommand?.[0];
  } catch {
    return undefined;
  }
}
