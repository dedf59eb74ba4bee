#include "catdog/app/serve_upload.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

namespace catdog::app {

namespace {

bool all_digits(const std::string& text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c); });
}

}  // namespace

std::string upload_too_large_message(size_t max_upload) {
  return "the upload is larger than this server's cap of " + std::to_string(max_upload / 1024) + " KiB";
}

std::optional<EarlyAnswer> check_body_length(const httplib::Request& request, size_t max_upload) {
  const auto lengths = request.headers.equal_range("Content-Length");
  const bool has_length = lengths.first != lengths.second;
  const bool has_coding = request.has_header("Transfer-Encoding");
  if (has_coding) {
    // httplib reads "chunked" only; any other coding it would read to the
    // connection's end, and a length beside it is how requests are smuggled.
    if (has_length) return EarlyAnswer{400, "a request has a Content-Length or a Transfer-Encoding, not both"};
    std::string coding = request.get_header_value("Transfer-Encoding");
    std::transform(coding.begin(), coding.end(), coding.begin(), [](unsigned char c) { return std::tolower(c); });
    if (request.get_header_value_count("Transfer-Encoding") != 1 || coding != "chunked")
      return EarlyAnswer{501, "send the body plainly or chunked, not as " + coding};
    return std::nullopt;
  }
  // Without either, HTTP/1.1 says the body is empty; httplib would read to the connection's end.
  if (!has_length) return EarlyAnswer{411, "send the body with a Content-Length, or chunked"};
  const std::string& first = lengths.first->second;
  for (auto length = lengths.first; length != lengths.second; ++length)
    if (length->second != first) return EarlyAnswer{400, "the request has several different Content-Lengths"};
  // 18 digits fit in 64 bits: a longer or signed length is a lie, refused before reading anything.
  if (!all_digits(first) || first.size() > 18)
    return EarlyAnswer{400, "Content-Length must be the body's size in bytes, not " + first.substr(0, 24)};
  if (std::stoull(first) > max_upload) return EarlyAnswer{413, upload_too_large_message(max_upload)};
  return std::nullopt;
}

void read_body_as_bytes_unless_multipart(httplib::Request& request) {
  if (request.method != "POST" || request.is_multipart_form_data()) return;
  request.headers.erase("Content-Type");
  request.headers.emplace("Content-Type", "application/octet-stream");
}

Upload find_upload(const httplib::Request& request, size_t max_upload, const DecodeLimits& limits) {
  std::string file_name = "upload";
  const std::string* bytes = &request.body;
  if (request.is_multipart_form_data()) {
    auto part = request.files.find("image");
    if (part == request.files.end())
      part = std::find_if(request.files.begin(), request.files.end(),
                          [](const auto& field) { return !field.second.filename.empty(); });
    if (part == request.files.end()) throw HttpError{400, "the form holds no file: send the image as a file field"};
    bytes = &part->second.content;
    const auto name = std::filesystem::path(part->second.filename).filename().string();  // a label, never a path
    if (!name.empty()) file_name = name;
  }
  if (bytes->empty()) throw HttpError{400, "the request has no image: send a photo as the body"};
  // A chunked body declares no length: its size is known once read (the
  // connection's own cap stopped it soon after max_upload).
  if (bytes->size() > max_upload) throw HttpError{413, upload_too_large_message(max_upload)};
  const auto* data = reinterpret_cast<const unsigned char*>(bytes->data());
  const auto format = sniff_image_format(data, bytes->size());
  if (!format) throw HttpError{415, "not an image catdog reads: send a JPEG, PNG, BMP, WebP or TIFF"};
  const auto dimensions = declared_dimensions(data, bytes->size());
  if (!dimensions)
    throw HttpError{422, file_name + ": " + to_string(*format) + " header cut short or malformed"};
  if (!limits.allows(*dimensions))
    throw HttpError{413, file_name + ": " + std::to_string(dimensions->width) + "x" +
                             std::to_string(dimensions->height) + " pixels, more than the " +
                             std::to_string(limits.max_pixels) + " this server decodes; send a smaller image"};
  return {*bytes, file_name, *format, *dimensions};
}

}  // namespace catdog::app
