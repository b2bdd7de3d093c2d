#!/usr/bin/env bash
# Pack what a bare GPU machine without network needs to run scripts/gpu_check.sh: the Deno
# binary (xz), a Deno cache holding exactly the npm packages the check imports (tar.xz), and the
# Vulkan loader packages. Everything goes to .gpu/ (git-ignored: it travels to the GPU machine
# only when the call names it in `carry`); together about 36 MB.
#   bash scripts/gpu_pack.sh            # then: run `bash scripts/gpu_check.sh` with carry [".gpu"]
set -euo pipefail
cd "$(dirname "$0")/.."
DENO_VERSION=2.9.6
rm -rf .gpu && mkdir -p .gpu/debs
deno_bin=$(npx --yes "deno@$DENO_VERSION" eval 'console.log(Deno.execPath())')
xz -T0 -6 -c "$deno_bin" >.gpu/deno.xz
cache=$(mktemp -d)
DENO_DIR="$cache/denodir" npx --yes "deno@$DENO_VERSION" cache main.ts bench/*.ts \
  tests/engine/*_test.ts tests/train/golden_train_test.ts tests/train/precision_test.ts >/dev/null 2>&1
tar -cf - -C "$cache" denodir | xz -T0 -6 >.gpu/denodir.tar.xz
rm -rf "$cache"
# Vulkan loader (the GPU machine has the NVIDIA driver's ICD but may lack libvulkan.so.1).
lists=$(mktemp -d)
apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
mkdir -p "$lists/partial"
apt-get "${apt_opts[@]}" update >/dev/null
(cd .gpu/debs && apt-get "${apt_opts[@]}" download libvulkan1 >/dev/null)
rm -rf "$lists"
du -sh .gpu
