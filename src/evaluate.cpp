#include "catdog/evaluate.h"
