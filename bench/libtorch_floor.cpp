// The start-up floor of any program on this LibTorch: load its shared libraries,
// run its static initialisers (operator registration), make one tensor. Linked
// with LibTorch alone, not catdog_core (bench/cold_start.sh).
#include <cstdio>

#include <torch/torch.h>

int main() {
  const auto one = torch::ones({1});
  std::printf("%g\n", one.item<float>());
}
