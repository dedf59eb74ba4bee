#include "catdog/predict.h"
