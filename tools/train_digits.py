"""Train the bundled default model: a small CNN on scikit-learn's digits, written as OpenVINO IR.

Writes ie_core/data/digits_cnn.xml/.bin and the held-out test set
ie_core/data/digits_test.npz (uint8 images 8x8 with values 0..16, labels).
Needs the dev dependencies: torch==2.13.0, onnx, onnxscript, openvino, scikit-learn.

    python tools/train_digits.py
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import openvino as ov
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

DATA = Path(__file__).resolve().parent.parent / "ie_core" / "data"


class DigitsCNN(nn.Module):
    """Two conv blocks and a linear classifier over 8x8 images with pixel values 0..16."""

    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(32 * 2 * 2, 10)

    def forward(self, data):
        x = self.features(data / 16.0)
        return torch.softmax(self.classifier(torch.flatten(x, 1)), dim=1)


def train(seed, epochs):
    digits = load_digits()
    images = digits.images.astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=0.2, random_state=seed, stratify=digits.target
    )
    torch.manual_seed(seed)
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt = torch.tensor(x_train[:, None], dtype=torch.float32)
    yt = torch.tensor(y_train, dtype=torch.long)
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            loss = nn.functional.nll_loss(torch.log(model(xt[idx]) + 1e-9), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred = model(torch.tensor(x_test[:, None], dtype=torch.float32)).argmax(1).numpy()
    print(f"held-out accuracy (torch): {(pred == y_test).mean():.4f} on {len(y_test)} images")
    return model, x_test, y_test


def export(model, out_dir):
    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "digits_cnn.onnx"
        torch.onnx.export(model, (torch.zeros(1, 1, 8, 8),), str(onnx_path), input_names=["data"], output_names=["prob"])
        ov_model = ov.convert_model(str(onnx_path))
    ov.save_model(ov_model, str(out_dir / "digits_cnn.xml"), compress_to_fp16=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", type=Path, default=DATA)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    model, x_test, y_test = train(args.seed, args.epochs)
    export(model, args.out)
    np.savez_compressed(args.out / "digits_test.npz", images=x_test, labels=y_test.astype(np.int64))
    print(f"wrote {args.out / 'digits_cnn.xml'}, .bin and digits_test.npz")


if __name__ == "__main__":
    main()
