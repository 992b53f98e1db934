/**
 * The `varscope.*` settings the engine reads, turned into its configuration. Types only from `vscode`: the caller
 * passes the configuration section, so unit tests pass a plain object.
 */
import type * as vscode from 'vscode';
import type { EngineConfig } from '../shared/engineApi';

/** The settings (under `varscope.`) the engine's configuration comes from: a change to any reconfigures it. */
export const ENGINE_SETTINGS = ['executionProvider', 'threads', 'cudaLibraryPath', 'maxImagePixels'] as const;

/** Reads a setting, or its default when unset (what vscode.WorkspaceConfiguration.get does). */
export interface SettingsReader {
  get<T>(key: string, fallback: T): T;
}

/** The engine configuration from the `varscope` section; an empty CUDA path means none. */
export function engineConfigFrom(c: SettingsReader): EngineConfig {
  return {
    provider: c.get<EngineConfig['provider']>('executionProvider', 'auto'),
    threads: c.get<number>('threads', 0),
    cudaLibraryPath: c.get<string>('cudaLibraryPath', '') || undefined,
    maxImagePixels: c.get<number>('maxImagePixels', 100_000_000),
  };
}

/** Whether a configuration change touches a setting the engine reads. */
export function affectsEngine(e: Pick<vscode.ConfigurationChangeEvent, 'affectsConfiguration'>): boolean {
  return ENGINE_SETTINGS.some((key) => e.affectsConfiguration(`varscope.${key}`));
}
