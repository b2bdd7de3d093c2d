/** Public API of the engine layer (re-exported by the top-level mod.ts). */
export {};
