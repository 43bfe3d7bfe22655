"""Model builders for the model-level correctness tests.

Each model is written by hand in torch (there is no torchvision here), seeded,
put in eval mode, exported to ONNX, converted with ``openvino.convert_model``
and saved twice as IR: with fp32 weights (``<name>.xml``) and with weights
compressed to fp16 (``<name>_fp16.xml``).

The image models are exported with a dynamic batch dimension and given the
static batch-1 shape before saving (see :func:`_make_static`), so the IR has
static shapes (ie_core needs them) and its Flatten (``Reshape`` to [-1, C])
still follows the batch: ``net.batch_size = 4`` and OpenVINO's
``model.reshape`` work on it.

:func:`build` returns the paths; :func:`model_dir` picks the cache directory
(``~/.cache/ie-core-tests/<torch>-<openvino>-<hash of this file>``, override
with ``IE_CORE_TEST_CACHE=<dir>``, disable with ``IE_CORE_TEST_CACHE=0``).
``IE_CORE_TEST_EXPORTER=torchscript`` forces ``torch.onnx.export(dynamo=False)``
(the fallback when the dynamo exporter fails).
"""

import hashlib
import math
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

#: name -> (input name -> shape at batch 1, input name -> numpy dtype)
INPUTS = {
    "small_cnn": {"data": ((1, 1, 8, 8), np.float32)},
    "resnet50": {"data": ((1, 3, 224, 224), np.float32)},
    "mobilenet_v2": {"data": ((1, 3, 224, 224), np.float32)},
    "bert_encoder": {"input_ids": ((1, 128), np.int64), "attention_mask": ((1, 128), np.int64)},
}

MODELS = tuple(INPUTS)

#: BERT sizes: those of sentence-transformers/all-MiniLM-L6-v2.
BERT_CONFIG = dict(
    vocab_size=30522,
    hidden=384,
    layers=6,
    heads=12,
    intermediate=1536,
    max_positions=512,
    type_vocab=2,
    eps=1e-12,
)
BERT_SEQ_LEN = 128
BERT_PADDING = 37  # trailing tokens with attention_mask 0 in the test input

#: seconds each build took in this process (name -> seconds), for reporting
BUILD_TIMES = {}


# ----------------------------------------------------------------------------------------------
# inputs


def make_inputs(name, batch=1, seed=0):
    """Reproducible inputs for model ``name`` with batch ``batch``: input name -> array."""
    rng = np.random.default_rng(seed)
    if name == "bert_encoder":
        ids = rng.integers(1, BERT_CONFIG["vocab_size"], size=(batch, BERT_SEQ_LEN), dtype=np.int64)
        ids[:, 0] = 101  # [CLS]
        mask = np.ones((batch, BERT_SEQ_LEN), dtype=np.int64)
        for b in range(batch):
            valid = BERT_SEQ_LEN - BERT_PADDING - 5 * b
            ids[b, valid - 1] = 102  # [SEP]
            ids[b, valid:] = 0  # [PAD]
            mask[b, valid:] = 0
        return {"input_ids": ids, "attention_mask": mask}
    out = {}
    for key, (shape, dtype) in INPUTS[name].items():
        out[key] = rng.standard_normal((batch,) + tuple(shape[1:])).astype(dtype)
    return out


# ----------------------------------------------------------------------------------------------
# architectures (torch imported lazily: test collection stays fast)


def _torch_modules():
    import torch
    from torch import nn
    import torch.nn.functional as F

    def randomize_bn(model, gen_seed, shape, special=()):
        """Random BatchNorm scales/shifts, running statistics calibrated on random images.

        With the statistics of a fresh init (mean 0, var 1) the activations
        drift in scale through the depth and MobileNetV2's output barely
        depends on its input (1e-7 relative between two images): an error in an
        early layer would go unnoticed. Statistics measured in train mode keep
        every BatchNorm output normalised, as in a trained network.

        Scales are U(0.5, 1) and shifts N(0, 0.2^2) unless ``special`` (pairs
        of (BatchNorm module, (scale low, scale high, shift std))) says
        otherwise. Random deep nets amplify rounding errors layer after layer
        (ResNet-50 with plain calibrated BN: torch f32 is 1.2e-5 off float64,
        two f32 engines differ by ~1.5e-5); small scales on the last BN of each
        residual branch (as trained ResNets have) keep f32 error ~1e-6 while
        the output still moves ~20% between two random images.
        """
        g = torch.Generator().manual_seed(gen_seed)
        overrides = {id(bn): cfg for bn, cfg in special}
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        with torch.no_grad():
            for m in bns:
                c = m.num_features
                low, high, shift = overrides.get(id(m), (0.5, 1.0, 0.2))
                m.weight.copy_(low + (high - low) * torch.rand(c, generator=g))
                m.bias.copy_(shift * torch.randn(c, generator=g))
                m.reset_running_stats()
                m.momentum = None  # cumulative average over the calibration batches
            model.train()
            model(torch.randn((8,) + tuple(shape[1:]), generator=g))
            model.eval()
            for m in bns:
                m.momentum = 0.1

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
            self.bn1 = nn.BatchNorm2d(8)
            self.relu1 = nn.ReLU()
            self.pool = nn.MaxPool2d(2)
            self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
            self.bn2 = nn.BatchNorm2d(16)
            self.relu2 = nn.ReLU()
            self.flatten = nn.Flatten()
            self.fc1 = nn.Linear(16 * 4 * 4, 32)
            self.relu3 = nn.ReLU()
            self.fc2 = nn.Linear(32, 10)

        def forward(self, data):
            x = self.pool(self.relu1(self.bn1(self.conv1(data))))
            x = self.relu2(self.bn2(self.conv2(x)))
            x = self.flatten(x)
            return self.fc2(self.relu3(self.fc1(x)))

    # --- ResNet-50 (torchvision.models.resnet50, v1.5: stride on the 3x3 conv) ---

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1, downsample=None):
            super().__init__()
            width = planes
            self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * self.expansion)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = downsample

        def forward(self, x):
            identity = x
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            if self.downsample is not None:
                identity = self.downsample(x)
            return self.relu(out + identity)

    class ResNet50(nn.Module):
        def __init__(self, layers=(3, 4, 6, 3), num_classes=1000):
            super().__init__()
            self.inplanes = 64
            self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
            self.layer1 = self._make_layer(64, layers[0])
            self.layer2 = self._make_layer(128, layers[1], stride=2)
            self.layer3 = self._make_layer(256, layers[2], stride=2)
            self.layer4 = self._make_layer(512, layers[3], stride=2)
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def _make_layer(self, planes, blocks, stride=1):
            downsample = None
            if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
                downsample = nn.Sequential(
                    nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes * Bottleneck.expansion),
                )
            layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
            self.inplanes = planes * Bottleneck.expansion
            for _ in range(1, blocks):
                layers.append(Bottleneck(self.inplanes, planes))
            return nn.Sequential(*layers)

        def forward(self, data):
            x = self.maxpool(self.relu(self.bn1(self.conv1(data))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            x = torch.flatten(self.avgpool(x), 1)
            return self.fc(x)

    # --- MobileNetV2 (torchvision.models.mobilenet_v2, width 1.0) ---

    def _make_divisible(v, divisor=8, min_value=None):
        min_value = min_value or divisor
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        if new_v < 0.9 * v:
            new_v += divisor
        return new_v

    class ConvBNReLU6(nn.Sequential):
        def __init__(self, cin, cout, kernel=3, stride=1, groups=1):
            super().__init__(
                nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU6(inplace=True),
            )

    class InvertedResidual(nn.Module):
        def __init__(self, inp, oup, stride, expand_ratio):
            super().__init__()
            hidden = int(round(inp * expand_ratio))
            self.use_res_connect = stride == 1 and inp == oup
            layers = []
            if expand_ratio != 1:
                layers.append(ConvBNReLU6(inp, hidden, kernel=1))
            layers += [
                ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
                nn.Conv2d(hidden, oup, 1, 1, 0, bias=False),
                nn.BatchNorm2d(oup),
            ]
            self.conv = nn.Sequential(*layers)

        def forward(self, x):
            if self.use_res_connect:
                return x + self.conv(x)
            return self.conv(x)

    class MobileNetV2(nn.Module):
        def __init__(self, num_classes=1000, dropout=0.2):
            super().__init__()
            settings = [
                # t, c, n, s
                [1, 16, 1, 1],
                [6, 24, 2, 2],
                [6, 32, 3, 2],
                [6, 64, 4, 2],
                [6, 96, 3, 1],
                [6, 160, 3, 2],
                [6, 320, 1, 1],
            ]
            input_channel = _make_divisible(32)
            self.last_channel = _make_divisible(1280)
            features = [ConvBNReLU6(3, input_channel, stride=2)]
            for t, c, n, s in settings:
                output_channel = _make_divisible(c)
                for i in range(n):
                    features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t))
                    input_channel = output_channel
            features.append(ConvBNReLU6(input_channel, self.last_channel, kernel=1))
            self.features = nn.Sequential(*features)
            self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0, 0.01)
                    nn.init.zeros_(m.bias)

        def forward(self, data):
            x = self.features(data)
            x = F.adaptive_avg_pool2d(x, (1, 1))
            x = torch.flatten(x, 1)
            return self.classifier(x)

    # --- BERT encoder (HF BertModel, absolute positions, no pooler) + sentence-embedding head ---

    class BertEmbeddings(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden"], padding_idx=0)
            self.position_embeddings = nn.Embedding(c["max_positions"], c["hidden"])
            self.token_type_embeddings = nn.Embedding(c["type_vocab"], c["hidden"])
            self.LayerNorm = nn.LayerNorm(c["hidden"], eps=c["eps"])
            self.dropout = nn.Dropout(0.1)
            self.register_buffer("position_ids", torch.arange(c["max_positions"]).expand((1, -1)), persistent=False)
            self.register_buffer(
                "token_type_ids", torch.zeros((1, c["max_positions"]), dtype=torch.long), persistent=False
            )

        def forward(self, input_ids):
            seq_len = input_ids.shape[1]
            position_ids = self.position_ids[:, :seq_len]
            token_type_ids = self.token_type_ids[:, :seq_len].expand(input_ids.shape[0], seq_len)
            emb = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
            emb = emb + self.position_embeddings(position_ids)
            return self.dropout(self.LayerNorm(emb))

    class BertSelfAttention(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.heads = c["heads"]
            self.head_size = c["hidden"] // c["heads"]
            self.query = nn.Linear(c["hidden"], c["hidden"])
            self.key = nn.Linear(c["hidden"], c["hidden"])
            self.value = nn.Linear(c["hidden"], c["hidden"])
            self.dropout = nn.Dropout(0.1)

        def split(self, x):
            b, s, _ = x.shape
            return x.view(b, s, self.heads, self.head_size).permute(0, 2, 1, 3)

        def forward(self, hidden, extended_mask):
            q = self.split(self.query(hidden))
            k = self.split(self.key(hidden))
            v = self.split(self.value(hidden))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
            scores = scores + extended_mask
            probs = self.dropout(torch.softmax(scores, dim=-1))
            ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
            b, s = ctx.shape[:2]
            return ctx.view(b, s, self.heads * self.head_size)

    class BertLayer(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.attention = BertSelfAttention(c)
            self.attn_dense = nn.Linear(c["hidden"], c["hidden"])
            self.attn_norm = nn.LayerNorm(c["hidden"], eps=c["eps"])
            self.intermediate = nn.Linear(c["hidden"], c["intermediate"])
            self.output = nn.Linear(c["intermediate"], c["hidden"])
            self.out_norm = nn.LayerNorm(c["hidden"], eps=c["eps"])
            self.dropout = nn.Dropout(0.1)

        def forward(self, hidden, extended_mask):
            attn = self.dropout(self.attn_dense(self.attention(hidden, extended_mask)))
            hidden = self.attn_norm(attn + hidden)
            inter = F.gelu(self.intermediate(hidden))  # exact (erf) GELU, as HF "gelu"
            out = self.dropout(self.output(inter))
            return self.out_norm(out + hidden)

    class BertSentenceEncoder(nn.Module):
        def __init__(self, c=BERT_CONFIG):
            super().__init__()
            self.embeddings = BertEmbeddings(c)
            self.layer = nn.ModuleList([BertLayer(c) for _ in range(c["layers"])])
            # HF BertPreTrainedModel._init_weights, with non-trivial LayerNorm parameters
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, 0.02)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Embedding):
                    nn.init.normal_(m.weight, 0.0, 0.02)
                    if m.padding_idx is not None:
                        with torch.no_grad():
                            m.weight[m.padding_idx].zero_()
                elif isinstance(m, nn.LayerNorm):
                    with torch.no_grad():
                        m.weight.copy_(1.0 + 0.1 * torch.randn_like(m.weight))
                        m.bias.copy_(0.05 * torch.randn_like(m.bias))

        def forward(self, input_ids, attention_mask):
            # HF get_extended_attention_mask: [B, 1, 1, S], 0 where attended, dtype-min where masked
            ext = attention_mask[:, None, None, :].to(torch.float32)
            ext = (1.0 - ext) * torch.finfo(torch.float32).min
            hidden = self.embeddings(input_ids)
            for layer in self.layer:
                hidden = layer(hidden, ext)
            # sentence-transformers Pooling(mode_mean_tokens) + Normalize
            mask = attention_mask.unsqueeze(-1).expand(hidden.size()).to(torch.float32)
            summed = torch.sum(hidden * mask, dim=1)
            counts = torch.clamp(mask.sum(dim=1), min=1e-9)
            return F.normalize(summed / counts, p=2, dim=1)

    return dict(
        torch=torch,
        randomize_bn=randomize_bn,
        small_cnn=SmallCNN,
        resnet50=ResNet50,
        mobilenet_v2=MobileNetV2,
        bert_encoder=BertSentenceEncoder,
    )


def torch_model(name):
    """The seeded torch module of model ``name``, in eval mode."""
    mods = _torch_modules()
    torch = mods["torch"]
    torch.manual_seed(0)
    model = mods[name]()
    if name != "bert_encoder":
        special = []
        if name == "resnet50":
            # small last-BN scales on the residual branches: a well-conditioned net (see randomize_bn)
            special = [(m.bn3, (0.15, 0.3, 0.2)) for m in model.modules() if hasattr(m, "bn3")]
        elif name == "mobilenet_v2":
            # shifts N(0, 0.5^2) keep more ReLU6 units linear (f32 error 3e-6 rather than 1e-5); the
            # first and last ReLU6 get scales 2..4 so that ~5% of their inputs pass 6 (Clamp's top)
            special = [(m, (0.5, 1.0, 0.5)) for m in model.modules() if isinstance(m, mods["torch"].nn.BatchNorm2d)]
            special += [(model.features[0][1], (2.0, 4.0, 2.0)), (model.features[-1][1], (2.0, 4.0, 2.0))]
        mods["randomize_bn"](model, 1, INPUTS[name]["data"][0], special)
    return model.eval()


# ----------------------------------------------------------------------------------------------
# export


def _export_onnx(model, name, onnx_path):
    """torch -> ONNX; the dynamo exporter first, the TorchScript one if that fails."""
    import torch

    example = make_inputs(name)
    names = list(INPUTS[name])
    args = tuple(torch.from_numpy(example[k]) for k in names)
    dynamic = name != "bert_encoder"
    try:
        if os.environ.get("IE_CORE_TEST_EXPORTER") == "torchscript":
            raise RuntimeError("IE_CORE_TEST_EXPORTER=torchscript")
        kwargs = {}
        if dynamic:
            kwargs["dynamic_shapes"] = {names[0]: {0: torch.export.Dim("batch", min=1, max=64)}}
        torch.onnx.export(model, args, str(onnx_path), input_names=names, output_names=["output"],
                          dynamo=True, verbose=False, **kwargs)
        return "dynamo"
    except Exception as exc:  # pragma: no cover - depends on the torch version
        if os.environ.get("IE_CORE_TEST_EXPORTER") != "torchscript":
            warnings.warn(f"{name}: dynamo ONNX export failed ({exc!r}); using dynamo=False")
        kwargs = {}
        if dynamic:
            kwargs["dynamic_axes"] = {names[0]: {0: "batch"}}
        torch.onnx.export(model, args, str(onnx_path), input_names=names, output_names=["output"],
                          dynamo=False, **kwargs)
        return "torchscript"


def _make_static(ov_model, name):
    """Give the Parameters their batch-1 shapes without ``model.reshape``.

    ``model.reshape`` runs OpenVINO's SmartReshape, which turns the exported
    ``Reshape(x, [-1, C])`` of a Flatten into a ShapeOf/Gather/Concat subgraph
    and then folds the ShapeOf into a constant holding batch 1: the IR could no
    longer change batch. Setting the shapes and re-validating keeps [-1, C].
    """
    import openvino as ov

    for param in ov_model.get_parameters():
        shape, _ = INPUTS[name][param.get_friendly_name()]
        param.set_partial_shape(ov.PartialShape(list(shape)))
    ov_model.validate_nodes_and_infer_types()


def _build_into(name, directory):
    import openvino as ov
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    onnx_path = directory / f"{name}.onnx"
    with torch.no_grad():
        exporter = _export_onnx(torch_model(name), name, onnx_path)
    for suffix, fp16 in (("", False), ("_fp16", True)):
        ov_model = ov.convert_model(str(onnx_path))
        _make_static(ov_model, name)
        ov.save_model(ov_model, str(directory / f"{name}{suffix}.xml"), compress_to_fp16=fp16)
    for leftover in directory.glob(f"{name}.onnx*"):
        leftover.unlink()
    (directory / "exporter.txt").write_text(exporter + "\n")


def paths(name, directory):
    """{"fp32": xml, "fp16": xml} of model ``name`` under ``directory`` (str paths)."""
    d = Path(directory) / name
    return {"fp32": str(d / f"{name}.xml"), "fp16": str(d / f"{name}_fp16.xml")}


def build(name, directory):
    """Write model ``name``'s IR under ``directory/name`` unless already there; returns :func:`paths`."""
    target = Path(directory) / name
    done = target / "DONE"
    if not done.exists():
        start = time.perf_counter()
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=directory))
        try:
            _build_into(name, tmp)
            (tmp / "DONE").write_text("ok\n")
            if target.exists():
                shutil.rmtree(target)
            try:
                os.replace(tmp, target)
            except OSError:
                if not done.exists():  # not another process finishing the same build first
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        BUILD_TIMES[name] = time.perf_counter() - start
    return paths(name, directory)


def cache_key():
    import openvino as ov
    import torch

    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    exporter = os.environ.get("IE_CORE_TEST_EXPORTER", "")
    return f"torch{torch.__version__}-ov{ov.__version__.split('-')[0]}-{digest}" + (f"-{exporter}" if exporter else "")


def model_dir(fallback=None):
    """The directory models are built in: the persistent cache, or ``fallback()`` when caching is off."""
    setting = os.environ.get("IE_CORE_TEST_CACHE", "")
    if setting in ("0", "off", "false", "no"):
        return Path(fallback())
    root = Path(setting) if setting else Path.home() / ".cache" / "ie-core-tests"
    d = root / cache_key()
    try:
        d.mkdir(parents=True, exist_ok=True)
        return d
    except OSError:
        return Path(fallback())


def ir_ops(xml):
    """Sorted (type, version) pairs of the layers in the IR at ``xml``."""
    import xml.etree.ElementTree as ET

    root = ET.parse(xml).getroot()
    return sorted({(layer.get("type"), layer.get("version")) for layer in root.iter("layer")})
