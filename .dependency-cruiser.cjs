/**
 * The layers of src/ (docs/architecture.md), checked by `npm run lint:arch` (part of `npm run lint`):
 * the pure core (rules/) imports no shell; adapters (amocrm/, store/, telegram/) never import the layers that drive
 * them (jobs/, http/, admin/, the composition root); admin/ never imports http/; nothing imports cli/; no cycles.
 */
const SHELL =
  '^src/(effects|store|jobs|http|admin|amocrm|telegram|ops|cli|reports|config|runtime|service|main|env|health)';
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Import cycles make the start order and the layers unreadable.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'rules-are-pure',
      severity: 'error',
      comment: 'rules/ is the functional core: it decides, the shell does I/O.',
      from: { path: '^src/rules/' },
      to: { path: SHELL },
    },
    {
      name: 'adapters-stay-down',
      severity: 'error',
      comment: 'amocrm/, store/ and telegram/ are driven; give them a function instead of importing their driver.',
      from: { path: '^src/(amocrm|store|telegram)/' },
      to: { path: '^src/(jobs|http|admin|cli|runtime|service|main)' },
    },
    {
      name: 'config-is-data',
      severity: 'error',
      comment: 'config/ validates and compiles the rules file; it reads no adapter.',
      from: { path: '^src/config/' },
      to: { path: '^src/(amocrm|store|jobs|http|admin|telegram|effects|cli|runtime|service|main)' },
    },
    {
      name: 'admin-below-http',
      severity: 'error',
      comment: 'http/ serves admin/; admin/ never imports http/.',
      from: { path: '^src/admin/' },
      to: { path: '^src/http/' },
    },
    {
      name: 'nothing-imports-cli',
      severity: 'error',
      comment: 'cli/ scripts are entry points.',
      from: { path: '^src/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^src/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
