/** The tolerance check the engine tests share: |actual − expected| ≤ tol · max(1, |expected|) at every index. */
import assert from 'node:assert/strict';

/** Fails on any NaN too; the message names the worst index and both values. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(err <= worst)) {
      worst = err;
      at = i;
    }
  }
  assert.ok(worst <= tol, `${what}: error ${worst} at ${at} (${actual[at]} vs expected ${expected[at]})`);
}
