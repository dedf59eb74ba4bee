#include "catdog/mobilenet_v2.h"
