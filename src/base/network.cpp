#include "catdog/base/network.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace catdog {

bool is_loopback_host(const std::string& host) {
  std::string name = host;
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  if (name.size() > 1 && name.front() == '[' && name.back() == ']') name = name.substr(1, name.size() - 2);
  if (name == "localhost" || name == "::1") return true;
  in_addr address{};
  return inet_pton(AF_INET, name.c_str(), &address) == 1 && (ntohl(address.s_addr) >> 24) == 127;
}

}  // namespace catdog
