// Upload handling for `catdog serve`: what a request's head says about its
// body (judged before any of it is read), and the image found in the body.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <httplib.h>

#include "catdog/app/serve_gate.h"
#include "catdog/base/image_format.h"

namespace catdog::app {

// An answer the client can act on: status and a JSON {"error": ...}.
struct HttpError {
  int status;
  std::string message;
};

// 400 for a body length that is malformed or contradicts itself (Content-Length
// not a whole number of at most 18 digits, several different ones, with
// Transfer-Encoding), 501 for a transfer coding other than chunked, 411 for
// neither a length nor chunked, 413 for a declared length over `max_upload`.
// nullopt when the body may be read.
std::optional<EarlyAnswer> check_body_length(const httplib::Request& request, size_t max_upload);

// Before a POST's body is read: a body that is not a multipart form is an
// image's bytes (sniffed by them, not by its type), whatever Content-Type it
// declares. curl --data-binary sends application/x-www-form-urlencoded, which
// httplib would otherwise parse as a form and refuse past 8 KB.
void read_body_as_bytes_unless_multipart(httplib::Request& request);

// The image a request carries: its body, or a multipart form's "image" field,
// else the form's first file.
struct Upload {
  std::string_view bytes;      // into the request
  std::string file_name;       // the client's name as a label, never a path ("upload" when none)
  ImageFormat format;          // from the bytes, never from the client's name or Content-Type
  ImageDimensions dimensions;  // as the image's header declares them, within `limits`
};

// HttpError 400 (no image), 413 (over max_upload, which a chunked body only
// shows once read; or more pixels than `limits`), 415 (not an image catdog
// reads) or 422 (its header cut short or malformed).
Upload find_upload(const httplib::Request& request, size_t max_upload, const DecodeLimits& limits);

// "413: the upload is larger than this server's cap of 100 KiB"'s message.
std::string upload_too_large_message(size_t max_upload);

}  // namespace catdog::app
