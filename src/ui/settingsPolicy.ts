/**
 * Decisions about settings that must not depend on vscode (unit-tested): workspace trust for
 * path-valued settings, the hub endpoint, and the model cache folder.
 */
import * as path from 'node:path';
import { DownloadError, parseEndpoint } from '../models/download';

/** The parts of WorkspaceConfiguration.inspect() the trust decision reads. */
export interface InspectedSetting {
  readonly defaultValue?: string;
  readonly globalValue?: string;
  readonly workspaceValue?: string;
  readonly workspaceFolderValue?: string;
}

/** A value that names a folder rather than a manifest model ("gpt2", "demo"). */
export function looksLikePath(value: string): boolean {
  return /[\\/]/.test(value) || value.startsWith('~') || value.startsWith('.') || path.isAbsolute(value);
}

/**
 * In an untrusted workspace, a path set in the workspace's (or a workspace folder's) settings is
 * ignored: a model folder is read and parsed, and a cache folder is written to, so only a trusted
 * workspace may choose them. Returns the value to use instead and the message saying so, or
 * undefined when the configured value stands.
 */
export function untrustedOverride(key: string, inspected: InspectedSetting | undefined, isTrusted: boolean, fallback: string): { readonly value: string; readonly message: string } | undefined {
  if (isTrusted || !inspected) return undefined;
  const workspaceValue = inspected.workspaceFolderValue ?? inspected.workspaceValue;
  if (workspaceValue === undefined || !looksLikePath(workspaceValue)) return undefined;
  const value = inspected.globalValue ?? inspected.defaultValue ?? fallback;
  return {
    value,
    message: `Residual Lens ignores residualLens.${key} = "${workspaceValue}" from this workspace's settings because the workspace is not trusted; using "${value || fallback}".`,
  };
}

/** residualLens.hubEndpoint checked as downloads check it: https, or http only to loopback. */
export function hubEndpointSetting(value: string): { readonly endpoint: string } | { readonly message: string } {
  try {
    return { endpoint: parseEndpoint(value).toString().replace(/\/+$/, '') };
  } catch (err) {
    if (err instanceof DownloadError) return { message: `residualLens.hubEndpoint: ${err.message}` };
    throw err;
  }
}

/** residualLens.modelCacheDir: an absolute folder, else the default (with a note when a value was ignored). */
export function cacheDirSetting(value: string, defaultDir: string): { readonly dir: string; readonly note?: string } {
  const configured = value.trim();
  if (configured === '') return { dir: defaultDir };
  if (path.isAbsolute(configured)) return { dir: configured };
  return { dir: defaultDir, note: `residualLens.modelCacheDir "${configured}" is not an absolute path; using ${defaultDir}.` };
}
