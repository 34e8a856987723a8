/** Run-wide defaults, in one place (the CLI, the library and the bundle readers all take them from here). */
export const DEFAULT_SEED = 42;
/** Images per backbone batch. */
export const DEFAULT_BATCH_SIZE = 32;
/** Folds of the out-of-fold predictions that ensemble weights are fitted on. */
export const DEFAULT_WEIGHT_FOLDS = 5;
