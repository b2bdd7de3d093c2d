/**
 * The harness side of the model: what the fixed loop, evaluation and checkpoints need from the
 * recipe's GPT (src/train/recipe.ts), kept out of the recipe so an agent never has to read or edit
 * it. `ModelRunner` drives any `TrainableModel` through a `Tape` per micro-step (activations freed
 * after each backward, so memory is flat step over step), accumulates the loss on the device (no
 * sync per micro-step), evaluates without recording a graph, and (de)serialises weights by name.
 * `Rng` is the seeded generator the recipe's initialisation draws from.
 */
import { seededRandom } from "../util/random.ts";
import type { Backend, DeviceBuffer } from "../engine/backend.ts";
import { type Parameter, Tape, type Tensor } from "../engine/tensor.ts";
import { mean } from "../engine/ops.ts";

/** What the harness needs from a recipe's model. */
export interface TrainableModel {
  /** Trainable tensors in a fixed order (checkpoint order), each with a unique name. */
  readonly params: readonly Parameter[];
  /** Per-token losses (B, T) of ids (B, T) against targets (B, T), recorded on `tape`. */
  forward(tape: Tape, ids: Tensor<"i32">, targets: Tensor<"i32">): Tensor<"f32">;
  /** Free every device buffer the model holds. */
  dispose(): void;
}

/** What the harness needs from a recipe's optimizer. */
export interface TrainOptimizer {
  /** One update from the accumulated gradients: `step` counts from 0, `progress` is in [0, 1]. */
  step(step: number, progress: number): void;
  /** Free the optimizer state. */
  dispose(): void;
}

/** A small seeded PRNG (mulberry32) with uniform and normal draws, for the initialisation. */
export class Rng {
  /** Uniform in [0, 1). */
  readonly next: () => number;
  /** Seeded generator; the same seed gives the same stream. */
  constructor(seed: number) {
    this.next = seededRandom((seed >>> 0) ^ 0x9e3779b9);
  }
  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }
}

/**
 * Runs a recipe model for the harness: forward/backward per micro-batch with gradient
 * accumulation, evaluation losses, and weights by name.
 */
export class ModelRunner {
  readonly #backend: Backend;
  #tape: Tape | null = null;
  #losses: Tensor<"f32"> | null = null;

  /** A runner for `model` (which it owns: `dispose` frees it). */
  constructor(readonly model: TrainableModel) {
    if (model.params.length === 0) throw new Error("the model has no parameters");
    this.#backend = model.params[0].backend;
  }

  /** The model's parameters. */
  get params(): readonly Parameter[] {
    return this.model.params;
  }

  /** Number of parameters. */
  get numParams(): number {
    return this.model.params.reduce((n, p) => n + p.size, 0);
  }

  /** Set parameter values from host arrays by name (golden weights or a checkpoint). */
  load(values: Map<string, Float32Array>): void {
    for (const p of this.model.params) {
      const v = values.get(p.name);
      if (!v || v.length !== p.size) throw new Error(`missing or misshaped weights: ${p.name}`);
      p.set(v);
    }
  }

  /** Host copies of every parameter, by name. */
  async snapshot(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const p of this.model.params) out.set(p.name, await p.read());
    return out;
  }

  /** Forget the accumulated gradients (start of an optimizer step). */
  zeroGrads(): void {
    for (const p of this.model.params) p.zeroGrad();
  }

  /**
   * Forward on `rows` sequences (ids and targets: rows * seqLen on the host), recording for
   * `backward`. Returns the per-token losses (valid until the backward or `discardActivations`).
   */
  forward(ids: Int32Array, targets: Int32Array, rows: number): DeviceBuffer<"f32"> {
    this.discardActivations();
    const tape = new Tape(this.#backend);
    this.#tape = tape;
    const seq = ids.length / rows;
    if (!Number.isInteger(seq) || targets.length !== ids.length) {
      throw new Error("ids/targets length mismatch");
    }
    this.#losses = this.model.forward(
      tape,
      tape.ids([rows, seq], ids),
      tape.ids([rows, seq], targets),
    );
    return this.#losses.buffer;
  }

  /** lossSum (1 element, device) += weight * mean of the last forward's losses. */
  accumulateLoss(lossSum: DeviceBuffer<"f32">, weight: number): void {
    const losses = this.#requireLosses();
    this.#backend.reduceTo({
      x: losses.buffer,
      out: lossSum,
      shape: [losses.size],
      outShape: [1],
      alpha: weight / losses.size,
      accumulate: true,
    });
  }

  /** Backward of `weight * mean(losses)`: adds into every parameter's gradient, frees the tape. */
  backward(weight: number): void {
    const losses = this.#requireLosses();
    this.#tape!.backward(mean(losses), weight);
    this.discardActivations();
  }

  /** Per-token losses (nats) of `rows` sequences, no graph recorded (for evaluate_bpb). */
  async perTokenLoss(ids: Int32Array, targets: Int32Array, rows: number): Promise<Float32Array> {
    this.discardActivations();
    using tape = new Tape(this.#backend, { grad: false });
    const seq = ids.length / rows;
    const losses = this.model.forward(
      tape,
      tape.ids([rows, seq], ids),
      tape.ids([rows, seq], targets),
    );
    return await losses.read();
  }

  /** Free the activations of a forward that will not be followed by a backward. */
  discardActivations(): void {
    this.#tape?.dispose();
    this.#tape = null;
    this.#losses = null;
  }

  /** Free the activations and the model. */
  dispose(): void {
    this.discardActivations();
    this.model.dispose();
  }

  #requireLosses(): Tensor<"f32"> {
    if (!this.#losses) throw new Error("backward/loss without a forward");
    return this.#losses;
  }
}
