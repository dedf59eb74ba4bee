#include "catdog/keras_h5.h"
