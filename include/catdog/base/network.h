#pragma once
#include <string>

namespace catdog {

// Whether `host` names this machine's loopback interface: localhost,
// 127.0.0.0/8 or ::1 (in brackets or not, any case). The one rule for who
// counts as local: serve's warning and Host check, Gloo's interface choice.
bool is_loopback_host(const std::string& host);

}  // namespace catdog
