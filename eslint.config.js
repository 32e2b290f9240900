import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test-results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { languageOptions: { globals: { ...globals.node } } },
  // The admin page's script runs in the browser.
  { files: ['src/admin/page/**/*.js'], languageOptions: { globals: { ...globals.browser } } },
  // The amoCRM widget runs in the lead card: an AMD module (define), amoCRM's AMOCRM object, `self` as amoCRM's
  // own widget examples write it.
  {
    files: ['widget/**/*.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.browser, define: 'readonly', AMOCRM: 'readonly' } },
    rules: { '@typescript-eslint/no-this-alias': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  {
    // Time is injected (src/lib/clock.ts). A read of the real clock elsewhere says why it must be real time:
    // `// eslint-disable-next-line no-restricted-syntax -- <why>`.
    files: ['src/**/*.ts'],
    ignores: ['src/lib/clock.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='Date'][property.name='now']",
          message: 'Read time from the injected Clock (src/lib/clock.ts), or say why it must be real time.',
        },
        {
          selector: "NewExpression[callee.name='Date'][arguments.length=0]",
          message: 'Read time from the injected Clock (src/lib/clock.ts), or say why it must be real time.',
        },
      ],
    },
  },
  {
    // The rule core is pure: it never imports the shell (Redis, HTTP, queues, clients).
    files: ['src/rules/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['ioredis', 'bullmq', 'fastify', 'axios', 'pino', 'node:*'],
              message: 'rules/ is pure: no I/O imports.',
            },
            {
              group: ['**/store/**', '**/http/**', '**/jobs/**', '**/amocrm/**', '**/telegram/**'],
              message: 'rules/ never imports the shell.',
            },
          ],
        },
      ],
    },
  },
);
