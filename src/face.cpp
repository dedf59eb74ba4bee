#include "catdog/face.h"
