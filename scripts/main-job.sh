#!/usr/bin/env bash
# The main job: fetch MNIST if missing, train LeNet-5 in an ML.NET pipeline, evaluate on the 2,000 held-out
# digits, save the model, export ONNX, verify it with ONNX Runtime and run it through ApplyOnnxModel.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-mnist.sh
dotnet run --project samples/MnistPipeline -c Release -- "$@"
