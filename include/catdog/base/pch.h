// Precompiled header: the heavy third-party headers, parsed once per build.
#pragma once
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <spdlog/spdlog.h>
#include <torch/torch.h>
