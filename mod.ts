/**
 * autoresearch as a library: the knowledge base (experiment cards, synthesis, brief), the
 * director (experiment queue with claims), the tensor engine (WebGPU and CPU backends with
 * autograd) and the trainer (tokenizer, data, GPT recipe, val_bpb).
 *
 * @module
 */
export * from "./src/util/mod.ts";
export * from "./src/knowledge/mod.ts";
export * from "./src/director/mod.ts";
export * from "./src/platform/mod.ts";
export * from "./src/engine/mod.ts";
export * from "./src/train/mod.ts";
export * from "./src/workspace/mod.ts";
export { VERSION } from "./src/version.ts";
/** The engine's raw device contract (the knowledge layer's card `Backend` is a plain name). */
export type { Backend } from "./src/engine/mod.ts";
/**
 * The brief an agent reads before planning, queue included (the knowledge layer's own
 * `readBrief` takes the queue section as an argument because it never imports the director).
 */
export { readBriefWithQueue as readBrief } from "./src/director/brief.ts";
