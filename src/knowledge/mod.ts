/** Public API of the knowledge layer (re-exported by the top-level mod.ts). */
export {};
