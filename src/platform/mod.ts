/** Public API of the platform layer (re-exported by the top-level mod.ts). */
export {};
