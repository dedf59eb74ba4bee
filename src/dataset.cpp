#include "catdog/dataset.h"
