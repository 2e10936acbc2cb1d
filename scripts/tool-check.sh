#!/usr/bin/env bash
# The tool check: `dotnet pack src/Cli` under a unique prerelease version into a temporary feed, `dotnet tool install`
# from it into a temporary tool path, then the installed mlconv: --version, and on data/mnist (when fetched) train for
# one epoch, export (ONNX Runtime's native library), predict and visualize (SkiaSharp's). The version is removed from
# the NuGet cache afterwards. Prints "tool-check: passed" or "tool-check: FAILED (...)" as its last line; exit code 0 / 1.
set -euo pipefail
cd "$(dirname "$0")/.."
version="0.3.0-tool.$(date +%s).$$"
work=$(mktemp -d)
cache=${NUGET_PACKAGES:-$(dotnet nuget locals global-packages -l | sed 's/^global-packages: //')}
cleanup() { rm -rf "$work" "${cache%/}/mlconv.cli/$version"; }
trap cleanup EXIT
fail() { echo "tool-check: FAILED ($*)"; exit 1; }
clock=$(date +%s)

dotnet pack src/Cli -c Release -o "$work/feed" -p:Version="$version" -nologo -v q >"$work/pack.log" 2>&1 \
  || { cat "$work/pack.log"; fail "dotnet pack src/Cli"; }
dotnet tool install --tool-path "$work/tool" --add-source "$work/feed" --version "$version" MLConv.Cli >"$work/install.log" 2>&1 \
  || { cat "$work/install.log"; fail "dotnet tool install"; }
mlconv="$work/tool/mlconv"
"$mlconv" --version | grep -qF "${version%%+*}" || fail "mlconv --version does not print $version"
if [ -f data/mnist/split.txt ]; then
  "$mlconv" train --data data/mnist --epochs 1 --out "$work/run/model.mlconv" >"$work/train.log" 2>&1 || { cat "$work/train.log"; fail "mlconv train"; }
  "$mlconv" export --model "$work/run/model.mlconv" --out "$work/run/model.onnx" >"$work/export.log" 2>&1 || { cat "$work/export.log"; fail "mlconv export"; }
  "$mlconv" predict --model "$work/run/model.mlconv" data/mnist/3/00012.png >"$work/predict.log" 2>&1 || { cat "$work/predict.log"; fail "mlconv predict"; }
  "$mlconv" visualize --model "$work/run/model.mlconv" --out "$work/run/pictures" >"$work/visualize.log" 2>&1 || { cat "$work/visualize.log"; fail "mlconv visualize"; }
  [ -s "$work/run/pictures/loss.png" ] || fail "mlconv visualize wrote no loss.png"
else
  echo "tool-check: data/mnist absent; only --version checked"
fi
echo "tool-check: passed in $(( $(date +%s) - clock )) s"
