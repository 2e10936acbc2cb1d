#!/usr/bin/env bash
# Builds the MLConv vs libtorch benchmarks in Release and runs them.
#   bash bench/run.sh [--threads N] [--reps N] [--warmup N] [--only gemm,conv,other,train] [--no-simplecnn] [--out PATH]
# Build outputs go to bench/artifacts (git-ignored), so src/*/bin and obj are left alone.
# The first build restores TorchSharp-cpu (~1.3 GiB in the NuGet cache). Not part of MLConv.sln on purpose.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"
artifacts="$here/artifacts"
# Which MLConv sources were measured (read-only git queries).
if commit="$(git rev-parse --short HEAD 2>/dev/null)"; then
  git diff --quiet HEAD -- src 2>/dev/null || commit="$commit + uncommitted changes in src/"
  export MLCONV_BENCH_COMMIT="$commit"
fi
dotnet build "$here/MLConv.Benchmarks/MLConv.Benchmarks.csproj" -c Release --artifacts-path "$artifacts" -nologo -v q
dll="$(find "$artifacts/bin/MLConv.Benchmarks" -name MLConv.Benchmarks.dll -path '*release*' | head -n 1)"
[[ -n "$dll" ]] || { echo "MLConv.Benchmarks.dll not found under $artifacts/bin" >&2; exit 1; }
export MLCONV_BENCH_COMMAND="bash bench/run.sh${*:+ $*}"
exec dotnet "$dll" "$@"
