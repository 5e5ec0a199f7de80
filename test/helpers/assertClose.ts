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

/**
 * Top-k ids equal, except where two swap places because their values tie within the tolerance
 * (another device or summation order may order a near-tie the other way).
 */
export function assertSameIdsUpToTies(ids: ArrayLike<number>, expected: ArrayLike<number>, values: ArrayLike<number>, expectedValues: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(ids.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (ids[i] === expected[i]) continue;
    const tie = Math.abs(values[i] - expectedValues[i]) <= tol * Math.max(1, Math.abs(expectedValues[i]));
    assert.ok(tie, `${what}: id ${ids[i]} vs ${expected[i]} at ${i}, values ${values[i]} vs ${expectedValues[i]} are not tied`);
  }
}
