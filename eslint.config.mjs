import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['.bench/**', '.devkit/**', '.scratch*', 'dist/**', 'out/**', 'node_modules/**', '.vscode-test/**', 'artifacts/**', 'models/**/*.safetensors', '*.vsix'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
    },
  },
  { files: ['webview/**/*.ts', 'bench/heatmapPage.ts'], languageOptions: { globals: { ...globals.browser } } },
  // The CLI launcher is plain CommonJS so `npx residual-lens` needs no build tooling at run time.
  { files: ['bin/*.js'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
