/**
 * A per-op time profile of a backend: every op call (matmul, attention, rmsnorm, adamw, ...)
 * is timed through a Proxy, so the bench can say where a training step's time goes outside
 * matmul. Exact for the CPU backend, whose ops run synchronously; on WebGPU it measures only the
 * encoding of each dispatch.
 */
import type { Backend } from "../src/engine/backend.ts";

/** Backend methods that are not ops (allocation, transfer, bookkeeping) and are not timed. */
const NOT_OPS = new Set([
  "info",
  "alloc",
  "free",
  "upload",
  "read",
  "sync",
  "memory",
  "resetPeak",
  "trim",
  "destroy",
]);

/** Time spent in one op over the profiled calls. */
export interface OpTime {
  /** Backend method name. */
  op: string;
  /** Calls. */
  calls: number;
  /** Total milliseconds. */
  ms: number;
}

/** A backend whose op calls are timed, and the accumulated times. */
export interface ProfiledBackend {
  /** Use this in place of the original backend. */
  backend: Backend;
  /** Accumulated times, largest first. */
  times(): OpTime[];
  /** Forget what was accumulated (e.g. after a warm-up step). */
  reset(): void;
}

/** Wrap `backend` so every op call is timed. */
export function profileBackend(backend: Backend): ProfiledBackend {
  const acc = new Map<string, OpTime>();
  const proxy = new Proxy(backend, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function" || typeof property !== "string" || NOT_OPS.has(property)) {
        return typeof value === "function" ? value.bind(target) : value;
      }
      return (...args: unknown[]) => {
        const t0 = performance.now();
        try {
          return value.apply(target, args);
        } finally {
          const row = acc.get(property) ?? { op: property, calls: 0, ms: 0 };
          row.calls++;
          row.ms += performance.now() - t0;
          acc.set(property, row);
        }
      };
    },
  });
  return {
    backend: proxy,
    times: () => [...acc.values()].sort((a, b) => b.ms - a.ms),
    reset: () => acc.clear(),
  };
}

/** Print a profile: each op's share of `stepMs` (the step's wall time), then the untimed rest. */
export function printProfile(times: OpTime[], stepMs: number, steps: number): void {
  const perStep = (ms: number) => ms / steps;
  let timed = 0;
  for (const row of times) {
    timed += row.ms;
    if (perStep(row.ms) < 0.01 * stepMs) continue;
    console.log(
      `    ${row.op.padEnd(22)} ${perStep(row.ms).toFixed(1).padStart(8)} ms/step ` +
        `${(100 * perStep(row.ms) / stepMs).toFixed(1).padStart(5)}%  ` +
        `(${Math.round(row.calls / steps)} calls)`,
    );
  }
  const rest = stepMs - perStep(timed);
  console.log(
    `    ${"(outside ops)".padEnd(22)} ${rest.toFixed(1).padStart(8)} ms/step ` +
      `${(100 * rest / stepMs).toFixed(1).padStart(5)}%  (tape, JS, hand-offs)`,
  );
}
