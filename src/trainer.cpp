#include "catdog/trainer.h"
