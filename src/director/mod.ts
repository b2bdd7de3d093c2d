/** Public API of the director layer (re-exported by the top-level mod.ts). */
export {};
