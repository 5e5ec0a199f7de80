/** Why a WebGPU test cannot run here (no adapter passes the engine's probe), or undefined when it can. */
import { webGpuAvailability } from '../../src/engine/executionProvider';

export async function webGpuSkipReason(): Promise<string | undefined> {
  const availability = await webGpuAvailability();
  return availability.available ? undefined : `needs a WebGPU adapter (CI: lavapipe from .ci/install-lavapipe): ${availability.reason ?? ''}`;
}
