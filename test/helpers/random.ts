/** Seeded randomness for tests: the project's PRNG (src/analysis/random.ts) under the names the tests use. */
export { mulberry32, SeededRandom as Random } from '../../src/analysis/random';
