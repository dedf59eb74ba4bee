#pragma once
#include <filesystem>

#include "catdog/export/exported_model.h"

namespace catdog {

// The files of ONNX Runtime Web (npm package onnxruntime-web, 1.20.1) a
// mirror page needs, relative to the package's folder: the wasm-only build,
// its module and its WebAssembly binary.
inline constexpr const char* kOnnxRuntimeWebFiles[] = {"dist/ort.wasm.min.js", "dist/ort-wasm-simd-threaded.mjs",
                                                      "dist/ort-wasm-simd-threaded.wasm"};

// A folder that classifies photos in the browser alone: index.html (the
// mirror page: a photo or the webcam, the verdict, the top classes as bars),
// model.onnx (export_onnx), the ONNX Runtime Web files copied from
// `onnxruntime_web` (the npm package's folder) under their own names, and
// their licence, LICENSE-onnxruntime-web. The page runs ONNX Runtime's wasm
// backend on one thread: no cross-origin isolation, any static host serves
// it. Creates `folder`; every file is written atomically. Error when an ONNX
// Runtime Web file is missing.
void export_web(const ExportedModel& exported, const std::filesystem::path& folder,
                const std::filesystem::path& onnxruntime_web);

}  // namespace catdog
