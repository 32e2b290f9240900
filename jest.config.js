/** Jest runs the TypeScript sources as ESM (ts-jest, transpile only; `npm run typecheck` checks types). */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // @fastify/static (CommonJS) requires content-disposition 3, an ES module Jest cannot require(); Node 20 can.
    '^content-disposition$': '<rootDir>/test/helpers/content-disposition.cjs',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, diagnostics: false }],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  globalSetup: '<rootDir>/test/global-setup.mjs',
  globalTeardown: '<rootDir>/test/global-teardown.mjs',
  testTimeout: 30000,
  // A leaked handle must not hang CI for its whole time budget; tests close what they open.
  forceExit: true,
};
