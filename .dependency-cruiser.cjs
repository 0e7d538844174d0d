/**
 * The dependency rules of the source tree (docs/development/architecture.md explains them),
 * checked by `npm run lint`. Type-only imports count: a layer that names another's types
 * depends on it.
 */
const layer = (name, comment, from, forbidden) => ({ name, comment, severity: 'error', from: { path: from }, to: { path: forbidden } });

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'modules that import each other cannot be understood, tested or moved apart',
      severity: 'error',
      from: {},
      to: { circular: true },
    },

    // The three programs share only src/shared; the server and tpctl talk over HTTP.
    layer('shared-is-the-bottom', 'shared/ is used by all and uses none of them', '^src/shared/', '^src/(?!shared/)'),
    layer('db-below-its-users', 'the database layer knows nothing of the server, tpctl or the agent', '^src/db/', '^src/(server|ops|cli|agent)/'),
    layer('server-apart', 'the server never imports the lifecycle, the CLI or the agent', '^src/server/', '^src/(ops|cli|agent)/'),
    layer('ops-apart', 'the lifecycle never imports the server, the CLI or the agent', '^src/ops/', '^src/(server|cli|agent)/'),
    layer('agent-apart', 'the edge agent reaches the Tenant Plane over HTTP only', '^src/agent/', '^src/(server|ops|db)/'),

    // ops: actions → steps → engine → runtimes / backup / probes → core → shared.
    layer('core-is-the-bottom-of-ops', 'core/ (executor, errors, release metadata) imports no other part of ops', '^src/ops/core/', '^src/ops/(?!core/)'),
    layer(
      'probes-below-runtimes',
      'probes take callbacks (crashed()) rather than a runtime',
      '^src/ops/probes/',
      '^src/ops/(runtimes|backup|engine|steps|actions)/',
    ),
    layer(
      'backup-below-the-engine',
      'backups and restores know no runtime, probe or step',
      '^src/ops/backup/',
      '^src/ops/(runtimes|probes|engine|steps|actions)/',
    ),
    layer(
      'runtimes-below-the-engine',
      'a runtime driver knows no backup, engine, step or action',
      '^src/ops/runtimes/',
      '^src/ops/(backup|engine|steps|actions)/',
    ),
    layer('engine-names-no-step', 'the engine runs declared steps; it imports none', '^src/ops/engine/', '^src/ops/(steps|actions)/'),
    layer('steps-below-actions', 'steps are composed by actions, never the other way', '^src/ops/steps/', '^src/ops/actions/'),
    {
      name: 'command-builders-import-types-only',
      comment: "a runtime's command builders are pure: they return argv arrays and import nothing that runs",
      severity: 'error',
      from: { path: '^src/ops/runtimes/[^/]+/commands\\.ts$' },
      to: { path: '^src/', dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
