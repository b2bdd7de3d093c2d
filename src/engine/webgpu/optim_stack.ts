/**
 * The grouped optimizer kernels (kernels/optim_stack.wgsl) for a given number of slots. WGSL has
 * no arrays of buffers, so one dispatch that updates several tensors, each in its own buffer,
 * declares one binding per tensor and role ("slot") and reads them through a `switch`; this file
 * generates those declarations and accessors for `count` slots and says how many slots a device's
 * storage-buffer limit allows per kernel. A handful of counts occur per model, each compiled once.
 */
import optimStackWgsl from "../../../kernels/optim_stack.wgsl" with { type: "text" };
import type { BindingKind, KernelSpec } from "./dispatch.ts";

/** The per-slot roles, in binding order: 4 + role * count + slot. */
const ROLES = [
  { name: "grad", kind: "read" },
  { name: "mom", kind: "rw" },
  { name: "second", kind: "rw" },
  { name: "param", kind: "rw" },
  { name: "am", kind: "rw" },
  { name: "av", kind: "rw" },
] as const;

type Role = typeof ROLES[number]["name"];

/** Storage bindings every entry binds before its slots: stack, per_entry, stats (by entry). */
const ENTRIES = {
  adamw_group: { fixed: [] as number[], roles: ["param", "grad", "am", "av"] as Role[] },
  stack_momentum: { fixed: [1, 3], roles: ["grad", "mom"] as Role[] },
  stack_normalize: { fixed: [1, 3], roles: [] as Role[] },
  stack_vmean: { fixed: [1, 2], roles: [] as Role[] },
  stack_stats: { fixed: [2, 3], roles: ["second"] as Role[] },
  stack_apply: { fixed: [1, 2, 3], roles: ["param"] as Role[] },
};

/** An entry point of optim_stack.wgsl. */
export type StackEntry = keyof typeof ENTRIES;

/** Most AdamW slots: the uniform block holds 11 per-slot records. */
const MAX_ADAMW_SLOTS = 11;
/** Most Muon slots: more only adds bindings (and compile time) for no fewer dispatches here. */
const MAX_MUON_SLOTS = 32;

/** Slots one dispatch of `entry` may bind under a per-stage storage-buffer limit (at least 1). */
export function stackSlots(entry: StackEntry, maxStorageBuffers: number): number {
  const { fixed, roles } = ENTRIES[entry];
  if (roles.length === 0) return Infinity;
  const slots = Math.floor((maxStorageBuffers - fixed.length) / roles.length);
  const cap = entry === "adamw_group" ? MAX_ADAMW_SLOTS : MAX_MUON_SLOTS;
  return Math.max(1, Math.min(slots, cap));
}

/**
 * `total` items in dispatches of at most `max` slots, balanced (32 in slots of 15 -> 11, 11, 10),
 * so fewer distinct slot counts need a pipeline. Returns [first, count] per dispatch.
 */
export function stackChunks(total: number, max: number): [number, number][] {
  const chunks = Math.ceil(total / max);
  const out: [number, number][] = [];
  for (let c = 0, first = 0; c < chunks; c++) {
    const count = Math.ceil((total - first) / (chunks - c));
    out.push([first, count]);
    first += count;
  }
  return out;
}

const sources = new Map<number, string>();

/** optim_stack.wgsl with the declarations and accessors of `count` slots per role. */
function stackSource(count: number): string {
  let code = sources.get(count);
  if (code) return code;
  const lines: string[] = [optimStackWgsl, `// ${count} slots per role (generated)`];
  ROLES.forEach((role, r) => {
    const access = role.kind === "read" ? "read" : "read_write";
    for (let j = 0; j < count; j++) {
      lines.push(
        `@group(0) @binding(${4 + r * count + j}) ` +
          `var<storage, ${access}> ${role.name}_${j}: array<f32>;`,
      );
    }
    const cases = (body: (j: number) => string) =>
      Array.from({ length: count }, (_, j) => `    case ${j}u: { ${body(j)} }`).join("\n");
    const getter = role.name === "grad" ? "grad_at" : `${role.name}_get`;
    lines.push(
      `fn ${getter}(slot: u32, i: u32) -> f32 {\n  switch slot {\n` +
        `${cases((j) => `return ${role.name}_${j}[i];`)}\n    default: { return 0.0; }\n  }\n}`,
    );
    if (role.kind === "rw") {
      lines.push(
        `fn ${role.name}_set(slot: u32, i: u32, v: f32) {\n  switch slot {\n` +
          `${cases((j) => `${role.name}_${j}[i] = v;`)}\n    default: {}\n  }\n}`,
      );
    }
  });
  code = lines.join("\n") + "\n";
  sources.set(count, code);
  return code;
}

/**
 * The kernel spec of `entry` for `count` slots (items for the slot-free entries, which take
 * count 1). Its storage buffers, in order: the fixed ones (stack, per_entry, stats as the entry
 * uses them), then per role the `count` slot buffers.
 */
export function stackKernel(entry: StackEntry, count: number): KernelSpec {
  const { fixed, roles } = ENTRIES[entry];
  const slots = roles.length === 0 ? 1 : count;
  const bindings: (BindingKind | null)[] = Array(4 + ROLES.length * slots).fill(null);
  bindings[0] = "uniform";
  for (const b of fixed) bindings[b] = "rw";
  // Roles bind in the entry's order of `roles`; the binding numbers follow ROLES.
  for (const name of roles) {
    const r = ROLES.findIndex((role) => role.name === name);
    for (let j = 0; j < slots; j++) bindings[4 + r * slots + j] = ROLES[r].kind;
  }
  return { module: `optim_stack${slots}`, code: stackSource(slots), entry, bindings };
}

/**
 * Order a dispatch's slot buffers as `stackKernel`'s bindings expect: the dispatcher fills the
 * non-null bindings in binding order, so role by role in ROLES order, slot by slot.
 */
export function slotBuffers<T>(entry: StackEntry, byRole: Partial<Record<Role, T[]>>): T[] {
  const out: T[] = [];
  for (const role of ROLES) {
    if (!ENTRIES[entry].roles.includes(role.name)) continue;
    const list = byRole[role.name];
    if (!list) throw new Error(`optim_stack: ${entry} needs its ${role.name} buffers`);
    out.push(...list);
  }
  return out;
}

/** Every entry's source for `count` slots (for the WGSL validation test). */
export function stackSourceFor(count: number): string {
  return stackSource(count);
}
