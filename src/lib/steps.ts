/**
 * Shells written as steps over an explicit context (docs/architecture.md): each step is a module function whose
 * first parameter is the context; the factory binds it. `StepArgs` is a step's arguments after its context.
 */
export type StepArgs<F> = F extends (env: never, ...args: infer A) => unknown ? A : never;
