"""test_export's TorchScript check: loads an exported .pt with Debian's
python3-torch (no catdog) and runs it on images already preprocessed by catdog.
  python3 torchscript.py MODEL.pt INPUTS.f32 COUNT SIDE
INPUTS.f32: COUNT x 3 x SIDE x SIDE float32. Prints JSON: probabilities,
the module's class_names and input_size attributes, its catdog.json extra file."""
import json
import sys

import torch

model_file, inputs, count, side = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
extra_files = {"catdog.json": ""}
model = torch.jit.load(model_file, _extra_files=extra_files)
with open(inputs, "rb") as f:
    images = torch.frombuffer(bytearray(f.read()), dtype=torch.float32).reshape(count, 3, side, side)
with torch.no_grad():
    probabilities = model(images)
json.dump({"probabilities": probabilities.tolist(), "class_names": list(model.class_names),
           "input_size": model.input_size, "facts": json.loads(extra_files["catdog.json"])}, sys.stdout)
