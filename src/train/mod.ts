/** Public API of the train layer (re-exported by the top-level mod.ts). */
export {};
