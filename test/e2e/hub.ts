/**
 * The local hub-like server for the download scenario (8): test/helpers/hubServer.ts on 127.0.0.1
 * serving a small random GPT-2-layout checkpoint under the repo of the manifest's "gpt2" entry
 * (the manifest pins no size or hash, so the hub's headers are the truth). The first body of the
 * weights stalls part-way, so the progress notification stays up until the test cancels it; the
 * second request must resume with a Range.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadManifest, type ManifestEntry } from '../../src/models/registry';
import { writeRandomCheckpoint } from '../helpers/checkpointWriter';
import { HubServer } from '../helpers/hubServer';

export interface HubFixture {
  readonly endpoint: string;
  readonly entry: ManifestEntry;
  readonly server: HubServer;
  /** The weights file as served. */
  readonly weights: Buffer;
  /** Body bytes sent before the first response stalls. */
  readonly stallAfter: number;
}

export interface HubHandle {
  readonly fixture: HubFixture | undefined;
  readonly skipReason: string | undefined;
  stop(): Promise<void>;
}

const MODEL_NAME = 'gpt2';

export async function startHubFixture(runDir: string): Promise<HubHandle> {
  const entry = loadManifest().find((e) => e.name === MODEL_NAME);
  if (entry === undefined) return { fixture: undefined, skipReason: `models/manifest.json has no "${MODEL_NAME}" entry to download`, stop: async () => undefined };
  const folder = path.join(runDir, 'hub-model');
  // dVocab 50257 × dModel 8 × 4 bytes ≈ 1.6 MB: big enough to see progress, small enough to be quick.
  writeRandomCheckpoint(folder, { seed: 6, nLayer: 1, nHead: 2, dModel: 8, nCtx: 64, dVocab: 50257 });
  const weights = fs.readFileSync(path.join(folder, 'model.safetensors'));
  const server = new HubServer();
  server.setFile(entry.repo, 'config.json', { content: fs.readFileSync(path.join(folder, 'config.json')), lfs: false });
  server.setFile(entry.repo, 'model.safetensors', { content: weights, lfs: true });
  const stallAfter = 512 * 1024;
  server.plan('model.safetensors', { kind: 'stall-after', bytes: stallAfter });
  const endpoint = await server.start();
  return { fixture: { endpoint, entry, server, weights, stallAfter }, skipReason: undefined, stop: () => server.close() };
}
