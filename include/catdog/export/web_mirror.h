#pragma once
#include <filesystem>

#include "catdog/export/exported_model.h"

namespace catdog {

// The files of ONNX Runtime Web (npm package onnxruntime-web) a mirror page
// needs, relative to the package's folder: the wasm-only build, its module
// and WebAssembly binary, and the licence that must travel with them.
inline constexpr const char* kOnnxRuntimeWebFiles[] = {"dist/ort.wasm.min.js", "dist/ort-wasm-simd-threaded.mjs",
                                                      "dist/ort-wasm-simd-threaded.wasm", "LICENSE"};

// A folder that classifies photos in the browser alone: index.html (the
// mirror page: a photo or the webcam, the verdict, the top classes as bars),
// model.onnx (export_onnx), and the ONNX Runtime Web files copied from
// `onnxruntime_web` (the npm package's folder) under their own names, its
// LICENSE as LICENSE-onnxruntime-web. The page runs ONNX Runtime's wasm
// backend on one thread: no cross-origin isolation, any static host serves
// it. Creates `folder`; every file is written atomically. Error when an ONNX
// Runtime Web file is missing.
void export_web(const ExportedModel& exported, const std::filesystem::path& folder,
                const std::filesystem::path& onnxruntime_web);

}  // namespace catdog
