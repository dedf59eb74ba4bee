// Writes the seed corpora for the fuzz targets: make_seeds OUT_DIR writes
// OUT_DIR/decode_image/ (a small image in every format catdog accepts),
// OUT_DIR/load_checkpoint/ (a small archive with the format marker, complete
// metadata and one tensor: a real model's checkpoint is megabytes, too large
// to mutate quickly), OUT_DIR/read_checkpoint_meta/ (that archive's metadata
// text), OUT_DIR/read_keras_h5/ (a small Keras file) and OUT_DIR/serve_request/
// (what clients send `catdog serve`: every route and method, raw, multipart and
// chunked uploads of those images, queries, pipelined requests).
#include <hdf5.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <torch/torch.h>

#include "h5_strings.h"  // tests/: the Keras file's string attributes


namespace fs = std::filesystem;

namespace {

void write_images(const fs::path& dir) {
  cv::Mat bgr(12, 16, CV_8UC3);
  cv::randu(bgr, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::Mat gray, bgra;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::cvtColor(bgr, bgra, cv::COLOR_BGR2BGRA);
  const std::pair<const char*, const cv::Mat*> files[] = {
      {"color.jpg", &bgr}, {"gray.jpg", &gray}, {"color.png", &bgr}, {"alpha.png", &bgra},
      {"color.bmp", &bgr}, {"color.tiff", &bgr}, {"color.webp", &bgr}};
  for (const auto& [name, image] : files) cv::imwrite((dir / name).string(), *image);
  cv::imwrite((dir / "progressive.jpg").string(), bgr, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
}

const std::string kMeta =
    R"({"kind":"scratch","image_size":160,"preprocessing":"x","class_names":["cat","dog"],)"
    R"("catdog_version":"0.1.0","split_seed":1,"seed":2,"epochs_done":1,)"
    R"("history":[{"epoch":1,"loss":0.7,"accuracy":0.5,"val_loss":0.69,"val_accuracy":0.5,"seconds":1.5}],)"
    R"("settings":{"epochs":1,"classes":[]}})";

void write_checkpoint(const fs::path& dir) {
  torch::serialize::OutputArchive archive;
  archive.write("catdog/format", c10::IValue(std::string("catdog-checkpoint-1")));
  archive.write("catdog/meta", c10::IValue(kMeta));
  archive.write("model/tiny", torch::arange(6, torch::kFloat32).reshape({2, 3}), /*is_buffer=*/true);
  archive.write("catdog/checksums", c10::IValue(std::string(R"({"model/tiny":0})")));
  archive.save_to((dir / "tiny.ckpt").string());
}

// One Keras layer "dense" with a (2, 3) kernel and a (3,) bias.
void write_keras_file(const fs::path& file) {
  const hid_t h5 = H5Fcreate(file.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  catdog::testing::write_string_attribute(h5, "layer_names", {"dense"});
  const hid_t group = H5Gcreate2(h5, "dense", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  catdog::testing::write_string_attribute(group, "weight_names", {"kernel:0", "bias:0"});
  const std::pair<const char*, std::vector<hsize_t>> datasets[] = {{"kernel:0", {2, 3}}, {"bias:0", {3}}};
  const float values[6] = {1, 2, 3, 4, 5, 6};
  for (const auto& [name, shape] : datasets) {
    const hid_t space = H5Screate_simple(static_cast<int>(shape.size()), shape.data(), nullptr);
    const hid_t dataset = H5Dcreate2(group, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
    H5Dclose(dataset);
    H5Sclose(space);
  }
  H5Gclose(group);
  H5Fclose(h5);
}

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_requests(const fs::path& dir, const fs::path& images) {
  const std::string jpeg = read_file(images / "color.jpg"), png = read_file(images / "alpha.png");
  const std::string host = "Host: localhost\r\n";
  const auto post = [&](const std::string& target, const std::string& headers, const std::string& body) {
    return "POST " + target + " HTTP/1.1\r\n" + host + headers + "Content-Length: " + std::to_string(body.size()) +
           "\r\n\r\n" + body;
  };
  const std::string boundary = "catdogBoundary7MA4YWxk";
  const std::string form = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--" +
                           boundary +
                           "\r\nContent-Disposition: form-data; name=\"image\"; filename=\"../pet.png\"\r\n" +
                           "Content-Type: image/png\r\n\r\n" + png + "\r\n--" + boundary + "--\r\n";
  std::string chunked = "POST /api/predict?heatmap=0 HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n";
  for (size_t at = 0; at < jpeg.size(); at += 256) {
    const std::string chunk = jpeg.substr(at, 256);
    char size[16];
    std::snprintf(size, sizeof size, "%zx", chunk.size());
    chunked += size + std::string("\r\n") + chunk + "\r\n";
  }
  chunked += "0\r\n\r\n";
  const std::pair<const char*, std::string> requests[] = {
      {"healthz", "GET /healthz HTTP/1.1\r\n" + host + "\r\n"},
      {"page", "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: text/html\r\nConnection: close\r\n\r\n"},
      {"asset_head", "HEAD /app.js HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n"},
      {"model", "GET /api/model HTTP/1.0\r\n" + host + "\r\n"},
      {"options", "OPTIONS /api/predict HTTP/1.1\r\n" + host + "Origin: http://localhost\r\n\r\n"},
      {"raw_jpeg", post("/api/predict", "Content-Type: image/jpeg\r\n", jpeg)},
      {"form_png_face", post("/api/predict?crop=face&heatmap=1",
                             "Content-Type: multipart/form-data; boundary=" + boundary + "\r\n", form)},
      {"chunked_jpeg", chunked},
      {"pipelined", "GET /healthz HTTP/1.1\r\n" + host + "\r\n" +
                        post("/api/predict?heatmap=0", "Content-Type: application/x-www-form-urlencoded\r\n", png) +
                        "GET /api/model HTTP/1.1\r\n" + host + "Connection: close\r\n\r\n"}};
  for (const auto& [name, request] : requests)
    std::ofstream(dir / (std::string(name) + ".http"), std::ios::binary) << request;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_seeds OUT_DIR\n";
    return 2;
  }
  const fs::path out = argv[1];
  for (const char* target :
       {"decode_image", "load_checkpoint", "read_checkpoint_meta", "read_keras_h5", "serve_request"})
    fs::create_directories(out / target);
  write_images(out / "decode_image");
  write_checkpoint(out / "load_checkpoint");
  std::ofstream(out / "read_checkpoint_meta" / "meta.json") << kMeta;
  write_keras_file(out / "read_keras_h5" / "dense.h5");
  write_requests(out / "serve_request", out / "decode_image");
  return 0;
}
