import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'CallExpression[callee.object.name="test"][callee.property.name="only"]', message: 'no focused tests' }],
    },
  },
  {
    // The pure core never touches I/O, the clock or the process.
    files: ['src/domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', '../adapters/*', '../services/*', 'fs', 'net', 'tls'] }],
      'no-restricted-properties': ['error', { object: 'Date', property: 'now', message: 'time comes through the Clock port' }],
    },
  },
);
