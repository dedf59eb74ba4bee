#include <gtest/gtest.h>

#include "catdog/base/network.h"

namespace catdog {
namespace {

TEST(Network, LoopbackHostsAreLocalhost127SlashEightAndIpv6One) {
  for (const char* host : {"localhost", "LocalHost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"})
    EXPECT_TRUE(is_loopback_host(host)) << host;
  for (const char* host : {"", "0.0.0.0", "128.0.0.1", "127.0.0.1.evil.example", "localhost.evil.example",
                           "192.168.1.5", "::2", "[::1", "evil.example"})
    EXPECT_FALSE(is_loopback_host(host)) << host;
}

}  // namespace
}  // namespace catdog
