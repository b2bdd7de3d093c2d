/**
 * Checkpoints: the trained weights as plain data, written before evaluation so an evaluation
 * crash does not lose the run. Two files in one directory: `model.bin` (every parameter, f32
 * little-endian, concatenated in manifest order) and `model.json` (names, shapes, offsets, the
 * model config and run facts). Never code, never pickles; both written atomically. One run
 * writes about 29 MB on the CPU recipe, so only the newest few run checkpoints are kept
 * (`pruneCheckpoints`; `train --keep-checkpoints N`, default `DEFAULT_KEEP_CHECKPOINTS`).
 */
import { join } from "node:path";
import { atomicWrite } from "../util/atomic.ts";
import { DataError } from "../util/errors.ts";
import type { ModelConfig } from "./recipe.ts";

/** The JSON half of a checkpoint. */
export interface CheckpointManifest {
  /** Format marker. */
  format: "autoresearch-checkpoint";
  /** Format version. */
  version: 1;
  /** Model shape the weights belong to. */
  model: ModelConfig;
  /** Optimizer steps taken. */
  step: number;
  /** Free-form facts about the run (recipe name, seed, hashes). */
  run: Record<string, unknown>;
  /** Tensor index into model.bin, offsets in f32 elements. */
  tensors: { name: string; shape: number[]; offset: number }[];
  /** Total f32 elements in model.bin. */
  numFloats: number;
}

/** Write `weights` (in order) and the manifest into `dir`; returns the two paths. */
export async function writeCheckpoint(
  dir: string,
  model: ModelConfig,
  weights: { name: string; shape: number[]; values: Float32Array }[],
  step: number,
  run: Record<string, unknown> = {},
): Promise<{ bin: string; json: string }> {
  let total = 0;
  const tensors = weights.map((w) => {
    const entry = { name: w.name, shape: w.shape, offset: total };
    total += w.values.length;
    return entry;
  });
  const flat = new Float32Array(total);
  for (let i = 0; i < weights.length; i++) flat.set(weights[i].values, tensors[i].offset);
  const bytes = new Uint8Array(flat.buffer);
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error("checkpoints are little-endian; this host is big-endian");
  }
  const manifest: CheckpointManifest = {
    format: "autoresearch-checkpoint",
    version: 1,
    model,
    step,
    run,
    tensors,
    numFloats: total,
  };
  const bin = join(dir, "model.bin");
  const json = join(dir, "model.json");
  await atomicWrite(bin, bytes);
  await atomicWrite(json, `${JSON.stringify(manifest, null, 2)}\n`);
  return { bin, json };
}

/** Read a checkpoint directory back; a bad or truncated file is a DataError naming it. */
export async function readCheckpoint(
  dir: string,
): Promise<{ manifest: CheckpointManifest; weights: Map<string, Float32Array> }> {
  const jsonPath = join(dir, "model.json");
  const binPath = join(dir, "model.bin");
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(await Deno.readTextFile(jsonPath));
  } catch (error) {
    throw new DataError(jsonPath, `unreadable checkpoint manifest: ${(error as Error).message}`);
  }
  if (manifest?.format !== "autoresearch-checkpoint" || !Array.isArray(manifest.tensors)) {
    throw new DataError(jsonPath, "not an autoresearch checkpoint manifest");
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(binPath);
  } catch (error) {
    throw new DataError(binPath, `unreadable checkpoint weights: ${(error as Error).message}`);
  }
  if (bytes.byteLength !== manifest.numFloats * 4) {
    throw new DataError(binPath, `size ${bytes.byteLength} != ${manifest.numFloats * 4} bytes`);
  }
  const flat = new Float32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
  const weights = new Map<string, Float32Array>();
  for (const t of manifest.tensors) {
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (t.offset + size > flat.length) {
      throw new DataError(jsonPath, `tensor ${t.name} out of range`);
    }
    weights.set(t.name, flat.slice(t.offset, t.offset + size));
  }
  return { manifest, weights };
}

/** Run checkpoints kept by default (`train --keep-checkpoints N` changes it). */
export const DEFAULT_KEEP_CHECKPOINTS = 3;

/** Run checkpoint folders are named by run id (`run_<ULID>`): their names sort by time. */
const RUN_DIR = /^run_[0-9A-HJKMNP-TV-Z]{26}$/;

/**
 * Remove all but the newest `keep` run checkpoint folders under `root` (only folders named like
 * run ids; anything else is left alone). Returns the names removed, oldest first.
 */
export async function pruneCheckpoints(root: string, keep: number): Promise<string[]> {
  const runs: string[] = [];
  try {
    for await (const entry of Deno.readDir(root)) {
      if (entry.isDirectory && !entry.isSymlink && RUN_DIR.test(entry.name)) runs.push(entry.name);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  runs.sort();
  const pruned = runs.slice(0, Math.max(0, runs.length - keep));
  for (const name of pruned) await Deno.remove(join(root, name), { recursive: true });
  return pruned;
}
