#!/usr/bin/env bash
# The package check: `dotnet pack` the four libraries into a temporary local feed, verify each package's metadata
# (description, MIT licence expression, repository, readme, tags, XML docs, a .snupkg beside it), then build the
# throwaway consumer test/PackageConsumer against that feed (plus the usual NuGet source) and run it twice: "train"
# (Trainers.Cnn end to end on a tiny in-memory dataset, model.zip and loss.png) and "score" (a fresh process loads the
# zip without RegisterMLConv, scores it and gets the network back). The packages get a unique prerelease version, so
# the NuGet cache never serves a stale copy; that version is removed from the cache afterwards.
# Prints "pack-check: passed" or "pack-check: FAILED (...)" as its last line; exit code 0 / 1.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
version="0.3.0-check.$(date +%s).$$"
work=$(mktemp -d)
cache=${NUGET_PACKAGES:-$(dotnet nuget locals global-packages -l | sed 's/^global-packages: //')}
cleanup() {
  rm -rf "$work"
  for p in mlconv.training mlconv.export mlconv.transforms mlconv.plots; do rm -rf "${cache%/}/$p/$version"; done
}
trap cleanup EXIT
fail() { echo "pack-check: FAILED ($*)"; exit 1; }
clock=$(date +%s)

# One build of the four (Transforms and Plots bring Training and Export), then each packed from that build.
for top in Transforms Plots; do
  dotnet build "src/$top/MLConv.$top.csproj" -c Release -nologo -v q >"$work/build-$top.log" 2>&1 \
    || { cat "$work/build-$top.log"; fail "dotnet build src/$top"; }
done
for lib in Training Export Transforms Plots; do
  dotnet pack "src/$lib/MLConv.$lib.csproj" -c Release --no-build -o "$work/feed" -p:Version="$version" -nologo -v q >"$work/pack-$lib.log" 2>&1 \
    || { cat "$work/pack-$lib.log"; fail "dotnet pack src/$lib"; }
  nupkg="$work/feed/MLConv.$lib.$version.nupkg"
  [ -f "$nupkg" ] || fail "no $nupkg"
  [ -f "$work/feed/MLConv.$lib.$version.snupkg" ] || fail "no symbols package for MLConv.$lib"
  nuspec=$(unzip -p "$nupkg" "MLConv.$lib.nuspec")
  for want in "<license type=\"expression\">MIT</license>" "<readme>README.md</readme>" "<repository type=\"git\" url=\"https://" \
              "<description>" "<tags>mlconv " "<authors>"; do
    grep -qF "$want" <<<"$nuspec" || fail "MLConv.$lib.nuspec lacks $want"
  done
  files=$(unzip -Z1 "$nupkg")   # listed once: grep -q on a pipe would end unzip early (SIGPIPE under pipefail)
  grep -qx "README.md" <<<"$files" || fail "MLConv.$lib has no README.md"
  grep -qx "lib/net10.0/MLConv.$lib.xml" <<<"$files" || fail "MLConv.$lib has no XML documentation"
done
echo "pack-check: packed MLConv.{Training,Export,Transforms,Plots} $version in $(( $(date +%s) - clock )) s"

cp test/PackageConsumer/PackageConsumer.csproj test/PackageConsumer/Program.cs "$work/"
cat >"$work/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <!-- The local feed in front of the sources the machine already has. -->
    <add key="mlconv-local" value="$work/feed" />
  </packageSources>
</configuration>
XML
(cd "$work" && dotnet build -c Release -p:MLConvVersion="$version" -nologo -v q -o "$work/app" >"$work/build.log" 2>&1) \
  || { cat "$work/build.log"; fail "the consumer does not build against the packages"; }
mkdir -p "$work/run"
"$work/app/PackageConsumer" train "$work/run" || fail "the consumer's train run"
"$work/app/PackageConsumer" score "$work/run" || fail "the consumer's score run (a fresh process)"
[ -s "$work/run/loss.png" ] || fail "no loss.png"
echo "pack-check: passed in $(( $(date +%s) - clock )) s"
