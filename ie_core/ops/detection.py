"""Object-detection ops: prior boxes, SSD DetectionOutput, YOLO region/reorg, ROIPooling, Proposal.

Each follows OpenVINO's operation specification (and its reference semantics where the
specification leaves details open): box arithmetic runs in float32 in the same order,
sorting keeps the original index order among equal scores.
"""

import numpy as np

from .registry import op

_F32 = np.float32


def _round_half_away(v):
    """Round half away from zero, as C's ``round``."""
    return np.sign(v) * np.floor(np.abs(v) + _F32(0.5))


def _output_size(ctx, index, what):
    """The two integers ``[height, width]`` of the 1-D input ``index``; None while only known at run time."""
    if ctx.input_dtypes[index].kind not in "iu":
        raise ctx.error(f"input {index} ({what}) must be an integer tensor, got {ctx.input_dtypes[index]}")
    if ctx.input_shapes[index] != (2,):
        raise ctx.error(f"input {index} ({what}) must be 1-D with two elements, got shape {ctx.input_shapes[index]}")
    return [int(v) for v in ctx.const_input(index, what)] if ctx.input_values[index] is not None else None


def _variances(ctx, values):
    if len(values) not in (0, 1, 4):
        raise ctx.error(f"variance must have 0, 1 or 4 values, got {list(values)}")
    return list(values) or [0.1]


def _write_variances(out, variances):
    """Fill row 1 of a prior-box output ``[2, 4 * priors]`` with the variances."""
    out[1] = np.tile(np.asarray(variances, _F32), out.shape[1] // len(variances))


# ----------------------------------------------------------------------------------------------
# prior boxes


@op("PriorBox", versions=(1, 8))
class PriorBox:
    """SSD prior boxes for every cell of the feature map ``[H, W]`` over an image ``[IH, IW]``.

    Output ``[2, 4 * H * W * priors]``: box corners (xmin, ymin, xmax, ymax) normalised to the
    image, then the variances. v8 adds ``min_max_aspect_ratios_order`` (v1 behaves as true).
    """

    @staticmethod
    def _attrs(ctx):
        a = ctx.attrs
        attrs = {
            "min_size": list(a.floats("min_size", ())),
            "max_size": list(a.floats("max_size", ())),
            "aspect_ratio": list(a.floats("aspect_ratio", ())),
            "density": list(a.floats("density", ())),
            "fixed_ratio": list(a.floats("fixed_ratio", ())),
            "fixed_size": list(a.floats("fixed_size", ())),
            "flip": a.bool("flip", False),
            "clip": a.bool("clip", False),
            "step": a.float("step", 0.0),
            "offset": a.float("offset"),
            "variance": _variances(ctx, a.floats("variance", ())),
            "scale_all_sizes": a.bool("scale_all_sizes", True),
            "order": a.bool("min_max_aspect_ratios_order", True) if ctx.version >= 8 else True,
        }
        if attrs["fixed_size"] and len(attrs["density"]) < len(attrs["fixed_size"]):
            raise ctx.error("fixed_size needs one density value per size")
        return attrs

    @staticmethod
    def number_of_priors(attrs):
        """Boxes per feature-map cell, as OpenVINO's shape inference counts them."""
        ratios = {1.0}
        for r in attrs["aspect_ratio"]:
            ratios.add(round(r * 1e6) / 1e6)
            if attrs["flip"]:
                ratios.add(round(1 / r * 1e6) / 1e6)
        total = len(ratios)
        if attrs["scale_all_sizes"]:
            count = total * len(attrs["min_size"]) + len(attrs["max_size"])
        else:
            count = total + len(attrs["min_size"]) - 1
        if attrs["fixed_size"]:
            count = total * len(attrs["fixed_size"])
        for d in attrs["density"]:
            d2 = int(d) * int(d) - 1
            count += (len(attrs["fixed_ratio"]) if attrs["fixed_ratio"] else total) * d2
        return count

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(2)
        size = _output_size(ctx, 0, "output size")
        _output_size(ctx, 1, "image size")
        attrs = PriorBox._attrs(ctx)
        if size is None:
            raise ctx.error("input 0 (output size) must be a constant known at load time")
        return [((2, 4 * size[0] * size[1] * PriorBox.number_of_priors(attrs)), np.float32)]

    @staticmethod
    def _cell_boxes(attrs, ratios, min_sizes):
        """Per prior: (dx, dy, half width, half height, clipped): centre shift and half size, in pixels."""
        boxes = []
        for s, fixed in enumerate(attrs["fixed_size"]):
            size = int(fixed)
            density = int(attrs["density"][s])
            shift = int(fixed / density)
            grid = [(-(size // 2) + shift / 2 + c * shift, -(size // 2) + shift / 2 + r * shift)
                    for r in range(density) for c in range(density)]
            if attrs["fixed_ratio"]:
                shapes = [np.sqrt(_F32(ar)) for ar in attrs["fixed_ratio"]]
            else:
                shapes = [None] + [np.sqrt(_F32(ar)) for ar in ratios if abs(ar - 1) >= 1e-6]
            for ar in shapes:
                if ar is None:
                    bw = bh = _F32(size) * _F32(0.5)
                else:
                    bw, bh = _F32(fixed) * _F32(0.5) * ar, _F32(fixed) * _F32(0.5) / ar
                boxes += [(dx, dy, bw, bh, True) for dx, dy in grid]
        for i, m in enumerate(min_sizes):
            square = [(0, 0, _F32(m) * _F32(0.5), _F32(m) * _F32(0.5), False)]
            big = []
            if len(attrs["max_size"]) > i:
                half = _F32(np.sqrt(_F32(m) * _F32(attrs["max_size"][i]))) * _F32(0.5)
                big = [(0, 0, half, half, False)]
            shaped = []
            if attrs["scale_all_sizes"] or i == len(min_sizes) - 1:
                base = _F32(min_sizes[i if attrs["scale_all_sizes"] else 0])
                for ar in ratios:
                    if abs(ar - 1) < 1e-6:
                        continue
                    r = np.sqrt(_F32(ar))
                    shaped.append((0, 0, base * _F32(0.5) * r, base * _F32(0.5) / r, False))
            boxes += square + (big + shaped if attrs["order"] else shaped + big)
        return boxes

    @staticmethod
    def compute(ctx, size, image):
        attrs = PriorBox._attrs(ctx)
        h, w = (int(v) for v in size)
        ih, iw = (int(v) for v in image)
        ratios = [1.0]
        for ar in attrs["aspect_ratio"]:
            if not any(abs(ar - r) < 1e-6 for r in ratios):
                ratios.append(ar)
                if attrs["flip"]:
                    ratios.append(1.0 / ar)
        ratios = [_F32(r) for r in ratios]
        step = _F32(attrs["step"])
        min_sizes = [_F32(m) for m in attrs["min_size"]]
        if not attrs["scale_all_sizes"]:  # MXNet-style priors: sizes and step relative to the image
            step = _F32(ih) / _F32(h) if step == -1 else step * _F32(ih)
            min_sizes = [m * _F32(ih) for m in min_sizes]
        boxes = PriorBox._cell_boxes(attrs, ratios, min_sizes)
        count = PriorBox.number_of_priors(attrs)
        if len(boxes) != count:
            raise ctx.error(f"the attributes generate {len(boxes)} boxes per cell, shape inference counts {count}")
        if step == 0:
            cx = (np.arange(w, dtype=_F32) + _F32(0.5)) * (_F32(iw) / _F32(w))
            cy = (np.arange(h, dtype=_F32) + _F32(0.5)) * (_F32(ih) / _F32(h))
        else:
            cx = (_F32(attrs["offset"]) + np.arange(w, dtype=_F32)) * step
            cy = (_F32(attrs["offset"]) + np.arange(h, dtype=_F32)) * step
        dx, dy, bw, bh, clipped = (np.array(v) for v in zip(*boxes)) if boxes else [np.zeros(0)] * 5
        cxs = (cx[None, :, None] + dx.astype(_F32)).astype(_F32)  # (1, W, P)
        cys = (cy[:, None, None] + dy.astype(_F32)).astype(_F32)  # (H, 1, P)
        inv_w, inv_h = _F32(1) / _F32(iw), _F32(1) / _F32(ih)
        bw, bh = bw.astype(_F32), bh.astype(_F32)
        shape = (h, w, len(boxes))
        xmin = np.broadcast_to((cxs - bw) * inv_w, shape)
        ymin = np.broadcast_to((cys - bh) * inv_h, shape)
        xmax = np.broadcast_to((cxs + bw) * inv_w, shape)
        ymax = np.broadcast_to((cys + bh) * inv_h, shape)
        xmin, ymin = np.where(clipped, np.maximum(xmin, 0), xmin), np.where(clipped, np.maximum(ymin, 0), ymin)
        xmax, ymax = np.where(clipped, np.minimum(xmax, 1), xmax), np.where(clipped, np.minimum(ymax, 1), ymax)
        coords = np.stack([xmin, ymin, xmax, ymax], axis=-1).reshape(-1).astype(_F32)
        if attrs["clip"]:
            coords = np.clip(coords, 0, 1)
        out = np.empty((2, coords.size), _F32)
        out[0] = coords
        _write_variances(out, attrs["variance"])
        return out


@op("PriorBoxClustered")
class PriorBoxClustered:
    """Prior boxes of the given widths/heights (pixels) centred on every feature-map cell.

    Output ``[2, 4 * H * W * len(width)]``; a zero step (step_w/step_h) is the image size over
    the feature-map size.
    """

    @staticmethod
    def _attrs(ctx):
        a = ctx.attrs
        widths, heights = list(a.floats("width", (1.0,))), list(a.floats("height", (1.0,)))
        if len(widths) != len(heights):
            raise ctx.error(f"width {widths} and height {heights} must have the same number of values")
        return widths, heights

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(2)
        size = _output_size(ctx, 0, "output size")
        _output_size(ctx, 1, "image size")
        if size is None:
            raise ctx.error("input 0 (output size) must be a constant known at load time")
        widths, _ = PriorBoxClustered._attrs(ctx)
        _variances(ctx, ctx.attrs.floats("variance", ()))
        return [((2, 4 * size[0] * size[1] * len(widths)), np.float32)]

    @staticmethod
    def compute(ctx, size, image):
        widths, heights = PriorBoxClustered._attrs(ctx)
        a = ctx.attrs
        h, w = (int(v) for v in size)
        ih, iw = (int(v) for v in image)
        step = _F32(a.float("step", 0.0))
        step_w = _F32(a.float("step_w", 0.0)) or step
        step_h = _F32(a.float("step_h", 0.0)) or step
        if step_w == 0 and step_h == 0:
            step_w, step_h = _F32(iw) / _F32(w), _F32(ih) / _F32(h)
        offset = _F32(a.float("offset"))
        cx = ((np.arange(w, dtype=_F32) + offset) * step_w)[None, :, None]
        cy = ((np.arange(h, dtype=_F32) + offset) * step_h)[:, None, None]
        half_w = np.asarray(widths, _F32) / _F32(2)
        half_h = np.asarray(heights, _F32) / _F32(2)
        shape = (h, w, len(widths))
        coords = [np.broadcast_to((cx - half_w) / _F32(iw), shape), np.broadcast_to((cy - half_h) / _F32(ih), shape),
                  np.broadcast_to((cx + half_w) / _F32(iw), shape), np.broadcast_to((cy + half_h) / _F32(ih), shape)]
        coords = np.stack(coords, axis=-1).reshape(-1).astype(_F32)
        if a.bool("clip", True):
            coords = np.clip(coords, 0, 1)
        out = np.empty((2, coords.size), _F32)
        out[0] = coords
        _write_variances(out, _variances(ctx, a.floats("variance", ())))
        return out


# ----------------------------------------------------------------------------------------------
# DetectionOutput


def _iou(box, boxes):
    """Jaccard overlap of one (xmin, ymin, xmax, ymax) box with each row of ``boxes``, in float32."""
    ix0 = np.maximum(box[0], boxes[:, 0])
    iy0 = np.maximum(box[1], boxes[:, 1])
    ix1 = np.minimum(box[2], boxes[:, 2])
    iy1 = np.minimum(box[3], boxes[:, 3])
    disjoint = (boxes[:, 0] > box[2]) | (boxes[:, 2] < box[0]) | (boxes[:, 1] > box[3]) | (boxes[:, 3] < box[1])
    iw, ih = ix1 - ix0, iy1 - iy0
    inter = iw * ih

    def area(b):
        valid = (b[..., 2] >= b[..., 0]) & (b[..., 3] >= b[..., 1])
        return np.where(valid, (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]), _F32(0))

    with np.errstate(invalid="ignore", divide="ignore"):
        iou = inter / (area(box) + area(boxes) - inter)
    return np.where(disjoint | (iw <= 0) | (ih <= 0), _F32(0), iou).astype(_F32)


def _by_score(scores, indices):
    """``indices`` ordered by descending score, ties by ascending index."""
    return indices[np.lexsort((indices, -scores[indices]))]


@op("DetectionOutput", versions=(1, 8))
class DetectionOutput:
    """SSD post-processing: decode box logits against the priors, per-class NMS, keep the best boxes.

    Inputs: box logits ``[N, P * locs * 4]``, class scores ``[N, P * classes]``, priors
    ``[1 or N, 1 or 2, P * 4 (or 5)]`` (and, unsupported here, the two ARM inputs). Output
    ``[1, 1, rows, 7]`` of ``[image, label, score, xmin, ymin, xmax, ymax]``; the row after the
    last detection starts with -1. v1 takes ``num_classes`` as an attribute, v8 infers it.
    """

    @staticmethod
    def _attrs(ctx):
        a = ctx.attrs
        code = a.str("code_type", "caffe.PriorBoxParameter.CORNER")
        if code not in ("caffe.PriorBoxParameter.CORNER", "caffe.PriorBoxParameter.CENTER_SIZE"):
            raise ctx.error(f"unknown code_type '{code}'")
        keep = list(a.ints("keep_top_k"))
        if not keep:
            raise ctx.error("keep_top_k must have a value")
        return {
            "background": a.int("background_label_id", 0),
            "top_k": a.int("top_k", -1),
            "encoded": a.bool("variance_encoded_in_target", False),
            "keep_top_k": keep[0],
            "center_size": code.endswith("CENTER_SIZE"),
            "share_location": a.bool("share_location", True),
            "nms_threshold": _F32(a.float("nms_threshold")),
            "confidence_threshold": _F32(a.float("confidence_threshold", 0.0)),
            "clip_after_nms": a.bool("clip_after_nms", False),
            "clip_before_nms": a.bool("clip_before_nms", False),
            "decrease_label_id": a.bool("decrease_label_id", False),
            "normalized": a.bool("normalized", False),
            "input_height": a.int("input_height", 1),
            "input_width": a.int("input_width", 1),
        }

    @staticmethod
    def _geometry(ctx, attrs):
        """(images, priors, classes, loc classes, prior size) checked against the input shapes."""
        if len(ctx.input_shapes) == 5:
            raise ctx.error("the five-input (ARM) form is not supported")
        ctx.expect_inputs(3)
        loc, conf, priors = ctx.input_shapes
        if len(loc) != 2 or len(conf) != 2 or len(priors) != 3:
            raise ctx.error(f"expects box logits and class predictions of rank 2 and priors of rank 3, got "
                            f"{loc}, {conf}, {priors}")
        prior_size = 4 if attrs["normalized"] else 5
        if priors[2] % prior_size:
            raise ctx.error(f"priors' last dimension {priors[2]} is not a multiple of {prior_size}")
        num_priors = priors[2] // prior_size
        if ctx.version >= 8:
            if num_priors == 0 or conf[1] % num_priors:
                raise ctx.error(f"class predictions {conf} do not hold a whole number of classes per prior")
            classes = conf[1] // num_priors
        else:
            classes = ctx.attrs.int("num_classes")
        loc_classes = 1 if attrs["share_location"] else classes
        images = loc[0]
        checks = [(loc[1] == num_priors * loc_classes * 4, f"box logits {loc}"),
                  (conf == (images, num_priors * classes), f"class predictions {conf}"),
                  (priors[0] in (1, images), f"priors {priors}"),
                  (priors[1] == (1 if attrs["encoded"] else 2), f"priors {priors}")]
        for ok, what in checks:
            if not ok:
                raise ctx.error(f"{what} do not match {num_priors} priors, {classes} classes and {images} images")
        return images, num_priors, classes, loc_classes, prior_size

    @staticmethod
    def infer(ctx):
        attrs = DetectionOutput._attrs(ctx)
        images, num_priors, classes, _, _ = DetectionOutput._geometry(ctx, attrs)
        for i in range(3):
            if ctx.input_dtypes[i].kind != "f":
                raise ctx.error(f"input {i} must be floating-point, got {ctx.input_dtypes[i]}")
        if attrs["keep_top_k"] > 0:
            rows = images * attrs["keep_top_k"]
        elif attrs["top_k"] > 0:
            rows = images * attrs["top_k"] * classes
        else:
            rows = images * num_priors * classes
        return [((1, 1, rows, 7), ctx.input_dtypes[0])]

    @staticmethod
    def _decode(attrs, priors, variances, loc):
        """Decoded boxes ``[P, 4]`` (float32) of one class's logits ``loc [P, 4]``."""
        p = priors.astype(_F32)
        if not attrs["normalized"]:
            p = p / np.array([attrs["input_width"], attrs["input_height"]] * 2, _F32)
        v = np.ones_like(p) if attrs["encoded"] else variances
        if attrs["center_size"]:
            pw, ph = p[:, 2] - p[:, 0], p[:, 3] - p[:, 1]
            pcx, pcy = (p[:, 0] + p[:, 2]) / _F32(2), (p[:, 1] + p[:, 3]) / _F32(2)
            cx = v[:, 0] * loc[:, 0] * pw + pcx
            cy = v[:, 1] * loc[:, 1] * ph + pcy
            w = np.exp(v[:, 2] * loc[:, 2]).astype(_F32) * pw
            h = np.exp(v[:, 3] * loc[:, 3]).astype(_F32) * ph
            boxes = np.stack([cx - w / _F32(2), cy - h / _F32(2), cx + w / _F32(2), cy + h / _F32(2)], axis=1)
        else:
            boxes = p + v * loc
        boxes = boxes.astype(_F32)
        return np.clip(boxes, 0, 1) if attrs["clip_before_nms"] else boxes

    @staticmethod
    def _nms(attrs, boxes, order):
        """Greedy NMS over ``order`` (indices by descending score); returns the kept indices."""
        kept = []
        for idx in order:
            if kept and (_iou(boxes[idx], boxes[np.asarray(kept)]) > attrs["nms_threshold"]).any():
                continue
            kept.append(int(idx))
        return kept

    @staticmethod
    def _image(attrs, boxes_by_label, scores, classes):
        """{label: kept prior indices} for one image (Caffe-style or MXNet-style NMS)."""
        picked = {}
        if not attrs["decrease_label_id"]:
            for c in range(classes):
                if c == attrs["background"]:
                    continue
                cand = np.nonzero(scores[:, c] > attrs["confidence_threshold"])[0]
                cand = _by_score(scores[:, c], cand)
                if attrs["top_k"] > -1:
                    cand = cand[: attrs["top_k"]]
                picked[c] = DetectionOutput._nms(attrs, boxes_by_label[-1 if attrs["share_location"] else c], cand)
        else:  # MXNet: one candidate per prior, its best non-background class
            fg = np.array([c for c in range(1, classes) if c != attrs["background"]], dtype=np.int64)
            if fg.size:
                best = fg[np.argmax(scores[:, fg], axis=1)]
                conf = scores[np.arange(len(scores)), best]
                cand = _by_score(conf, np.nonzero(conf >= attrs["confidence_threshold"])[0])
            else:
                cand = np.zeros(0, np.int64)
            if attrs["top_k"] != -1:
                cand = cand[: attrs["top_k"]]
            for p in cand:
                c = int(best[p])
                kept = picked.setdefault(c, [])
                boxes = boxes_by_label[-1 if attrs["share_location"] else c]
                if not kept or not (_iou(boxes[p], boxes[np.asarray(kept)]) > attrs["nms_threshold"]).any():
                    kept.append(int(p))
        total = sum(len(v) for v in picked.values())
        if attrs["keep_top_k"] > -1 and total > attrs["keep_top_k"]:
            entries = [(scores[i, c], c, i) for c in sorted(picked) for i in picked[c]]
            entries.sort(key=lambda e: (-e[0], e[2]))
            picked = {}
            for _, c, i in entries[: attrs["keep_top_k"]]:
                picked.setdefault(c, []).append(i)
        return picked

    @staticmethod
    def compute(ctx, loc, conf, priors):
        attrs = DetectionOutput._attrs(ctx)
        images, num_priors, classes, loc_classes, prior_size = DetectionOutput._geometry(ctx, attrs)
        rows = DetectionOutput.infer(ctx)[0][0][2]
        out = np.zeros((1, 1, rows, 7), _F32)
        loc = np.asarray(loc, _F32).reshape(images, num_priors, loc_classes, 4)
        conf = np.asarray(conf, _F32).reshape(images, num_priors, classes)
        priors = np.asarray(priors, _F32)
        count = 0
        for n in range(images):
            pr = priors[n if priors.shape[0] > 1 else 0]
            boxes_p = pr[0].reshape(num_priors, prior_size)[:, prior_size - 4:]
            variances = None if attrs["encoded"] else pr[1][: num_priors * 4].reshape(num_priors, 4)
            boxes_by_label = {}
            for c in range(loc_classes):
                label = -1 if attrs["share_location"] else c
                if attrs["background"] > -1 and label == attrs["background"]:
                    continue
                boxes_by_label[label] = DetectionOutput._decode(attrs, boxes_p, variances, loc[n, :, c])
            picked = DetectionOutput._image(attrs, boxes_by_label, conf[n], classes)
            for c in sorted(picked):
                boxes = boxes_by_label.get(-1 if attrs["share_location"] else c)
                if boxes is None:
                    continue
                for i in picked[c]:
                    box = np.clip(boxes[i], 0, 1) if attrs["clip_after_nms"] else boxes[i]
                    label = c - 1 if attrs["decrease_label_id"] else c
                    out[0, 0, count] = [n, label, conf[n, i, c], *box]
                    count += 1
        if count < rows:
            out[0, 0, count, 0] = -1
        return out.astype(ctx.input_dtypes[0], copy=False)


# ----------------------------------------------------------------------------------------------
# YOLO


def _sigmoid(t):
    return (_F32(1) / (_F32(1) + np.exp(-t))).astype(_F32)


@op("RegionYolo")
class RegionYolo:
    """YOLO region layer: sigmoid on box x/y and objectness (and class scores without softmax), softmax
    over the classes with ``do_softmax`` (YOLOv2, output flattened over ``axis..end_axis``) or the
    ``mask``-selected regions only (YOLOv3, output ``[N, len(mask) * (classes + coords + 1), H, W]``)."""

    @staticmethod
    def _params(ctx):
        a = ctx.attrs
        return (a.int("coords"), a.int("classes"), a.int("num"), a.bool("do_softmax", True),
                list(a.ints("mask", ())))

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        shape = ctx.input_shapes[0]
        if len(shape) != 4:
            raise ctx.error(f"expects a 4D input, got shape {shape}")
        if ctx.input_dtypes[0].kind != "f":
            raise ctx.error(f"input must be floating-point, got {ctx.input_dtypes[0]}")
        coords, classes, num, softmax, mask = RegionYolo._params(ctx)
        if softmax:
            rank = len(shape)
            axis, end = ctx.attrs.int("axis", 1) % rank, ctx.attrs.int("end_axis", -1) % rank
            out = shape[:axis] + (int(np.prod(shape[axis:end + 1])),) + shape[end + 1:]
            regions = num
        else:
            out = (shape[0], len(mask) * (classes + coords + 1), shape[2], shape[3])
            regions = len(mask)
        if shape[1] < regions * (classes + coords + 1):
            raise ctx.error(f"{shape[1]} channels hold fewer than {regions} regions of {classes + coords + 1} values")
        return [(out, ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x):
        coords, classes, num, softmax, mask = RegionYolo._params(ctx)
        n, _, h, w = x.shape
        regions = num if softmax else len(mask)
        entries = classes + coords + 1
        v = np.array(x[:, : regions * entries], dtype=_F32).reshape(n, regions, entries, h, w)
        v[:, :, 0:2] = _sigmoid(v[:, :, 0:2])
        if softmax:
            v[:, :, coords] = _sigmoid(v[:, :, coords])
            cls = v[:, :, coords + 1:]
            e = np.exp(cls - cls.max(axis=2, keepdims=True))
            v[:, :, coords + 1:] = e / e.sum(axis=2, keepdims=True)
        else:
            v[:, :, coords:] = _sigmoid(v[:, :, coords:])
        if softmax:
            out = np.array(x, dtype=_F32)
            out[:, : regions * entries] = v.reshape(n, regions * entries, h, w)
            return out.reshape(RegionYolo.infer(ctx)[0][0]).astype(x.dtype, copy=False)
        return v.reshape(n, regions * entries, h, w).astype(x.dtype, copy=False)


@op("ReorgYolo")
class ReorgYolo:
    """YOLOv2 reorg: ``[N, C, H, W]`` -> ``[N, C * s * s, H / s, W / s]`` with Darknet's index mapping."""

    @staticmethod
    def _stride(ctx):
        strides = list(ctx.attrs.ints("stride"))
        if not strides or any(s != strides[0] for s in strides) or strides[0] <= 0:
            raise ctx.error(f"stride {strides} must be one positive value (or equal values)")
        return strides[0]

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(1)
        s = ReorgYolo._stride(ctx)
        shape = ctx.input_shapes[0]
        if len(shape) != 4:
            raise ctx.error(f"expects a 4D input, got shape {shape}")
        n, c, h, w = shape
        if h % s or w % s or c < s * s:
            raise ctx.error(f"input {shape} does not divide by stride {s} (H, W) or holds fewer than {s * s} channels")
        return [((n, c * s * s, h // s, w // s), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, x):
        s = ReorgYolo._stride(ctx)
        n, c, h, w = x.shape
        # Darknet reads the input as [N, C / s^2, H * s, W * s] and writes channel k of each output
        # position from offset k // (C / s^2) within the s x s block
        oc = c // (s * s)
        src = x.reshape(n, oc, h * s, w * s)
        k = np.arange(c)
        offset, ch = k // oc, k % oc
        hh = np.arange(h)[None, :, None] * s + (offset // s)[:, None, None]
        ww = np.arange(w)[None, None, :] * s + (offset % s)[:, None, None]
        out = src[:, ch[:, None, None], hh, ww]
        return out.reshape(n, c * s * s, h // s, w // s)


# ----------------------------------------------------------------------------------------------
# ROIPooling and Proposal


@op("ROIPooling")
class ROIPooling:
    """Max or bilinear pooling of each ROI ``[batch, x1, y1, x2, y2]`` to ``output_size`` ``[h, w]``."""

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(2)
        feat, rois = ctx.input_shapes
        if len(feat) != 4 or len(rois) != 2 or rois[1] != 5:
            raise ctx.error(f"expects feature maps [N, C, H, W] and ROIs [R, 5], got {feat} and {rois}")
        size = list(ctx.attrs.ints("output_size"))
        if len(size) != 2 or min(size) <= 0:
            raise ctx.error(f"output_size {size} must be two positive values")
        method = ctx.attrs.str("method", "max")
        if method not in ("max", "bilinear"):
            raise ctx.error(f"unknown method '{method}'")
        return [((rois[0], feat[1], size[0], size[1]), ctx.input_dtypes[0])]

    @staticmethod
    def compute(ctx, feat, rois):
        ph_n, pw_n = ctx.attrs.ints("output_size")
        scale = ctx.attrs.float("spatial_scale")
        n, c, h, w = feat.shape
        out = np.zeros((rois.shape[0], c, ph_n, pw_n), feat.dtype)
        bilinear = ctx.attrs.str("method", "max") == "bilinear"
        for r, roi in enumerate(np.asarray(rois, _F32)):
            b = int(roi[0])
            if not 0 <= b < n:
                raise ctx.error(f"ROI {r} has batch index {b} outside [0, {n - 1}]")
            if bilinear:
                out[r] = ROIPooling._bilinear(feat[b], roi[1:], ph_n, pw_n)
                continue
            x0, y0, x1, y1 = (int(_round_half_away(v)) for v in roi[1:] * _F32(scale))
            rh, rw = max(y1 - y0 + 1, 1), max(x1 - x0 + 1, 1)
            bin_h, bin_w = _F32(rh) / _F32(ph_n), _F32(rw) / _F32(pw_n)
            for py in range(ph_n):
                hs = min(max(int(np.floor(_F32(py) * bin_h)) + y0, 0), h)
                he = min(max(int(np.ceil(_F32(py + 1) * bin_h)) + y0, 0), h)
                for px in range(pw_n):
                    ws = min(max(int(np.floor(_F32(px) * bin_w)) + x0, 0), w)
                    we = min(max(int(np.ceil(_F32(px + 1) * bin_w)) + x0, 0), w)
                    if he > hs and we > ws:
                        out[r, :, py, px] = feat[b, :, hs:he, ws:we].max(axis=(1, 2))
        return out

    @staticmethod
    def _bilinear(fm, box, ph_n, pw_n):
        """Bilinear samples ``[C, ph, pw]`` of one feature map at a normalised box's grid."""
        c, h, w = fm.shape
        x0, y0, x1, y1 = box
        f = _F32

        def coords(n, start, end, size):
            if n == 1:
                return np.array([f(0.5) * (start + end) * f(size - 1)], f)
            step = (end - start) * f(size - 1) / f(n - 1)
            v = np.arange(n, dtype=f) * step + start * f(size - 1)
            v[-1] = f(size - 1) * end
            return v

        ys, xs = coords(ph_n, y0, y1, h), coords(pw_n, x0, x1, w)
        out = np.zeros((c, ph_n, pw_n), fm.dtype)
        for i, y in enumerate(ys):
            for j, x in enumerate(xs):
                if y < 0 or y > h - 1 or x < 0 or x > w - 1:
                    continue
                t, l = int(np.floor(y)), int(np.floor(x))
                bt, r = min(int(np.ceil(y)), h - 1), min(int(np.ceil(x)), w - 1)
                top = fm[:, t, l] + (fm[:, t, r] - fm[:, t, l]) * (x - l)
                bottom = fm[:, bt, l] + (fm[:, bt, r] - fm[:, bt, l]) * (x - l)
                out[:, i, j] = top + (bottom - top) * (y - t)
        return out


@op("Proposal", versions=(1, 4))
class Proposal:
    """Region proposals (Faster R-CNN): anchors shifted over the score map, decoded, clipped, NMS.

    Inputs: class probabilities ``[N, 2 * A, H, W]``, box deltas ``[N, 4 * A, H, W]``, image info
    ``[3 or 4]`` (height, width, scale[, scale_w]). Output ``[N * post_nms_topn, 5]`` rows
    ``[image, x0, y0, x1, y1]``, padded with zeros after a -1; v4 adds the scores ``[N * post_nms_topn]``.
    """

    @staticmethod
    def _attrs(ctx):
        a = ctx.attrs
        framework = a.str("framework", "")
        if framework not in ("", "caffe", "tensorflow"):
            raise ctx.error(f"unknown framework '{framework}'")
        return {
            "base_size": a.int("base_size"),
            "pre_nms_topn": a.int("pre_nms_topn"),
            "post_nms_topn": a.int("post_nms_topn"),
            "nms_thresh": a.float("nms_thresh"),
            "feat_stride": a.int("feat_stride"),
            "min_size": a.int("min_size"),
            "ratio": list(a.floats("ratio")),
            "scale": list(a.floats("scale")),
            "clip_before_nms": a.bool("clip_before_nms", True),
            "clip_after_nms": a.bool("clip_after_nms", False),
            "normalize": a.bool("normalize", False),
            "box_size_scale": a.float("box_size_scale", 1.0),
            "box_coordinate_scale": a.float("box_coordinate_scale", 1.0),
            "tf": framework == "tensorflow",
        }

    @staticmethod
    def infer(ctx):
        ctx.expect_inputs(3)
        probs, deltas, info = ctx.input_shapes
        attrs = Proposal._attrs(ctx)
        if len(probs) != 4 or len(deltas) != 4 or len(info) != 1 or info[0] not in (3, 4):
            raise ctx.error(f"expects scores and deltas of rank 4 and image info [3] or [4], got {probs}, {deltas}, "
                            f"{info}")
        anchors = len(attrs["ratio"]) * len(attrs["scale"])
        if probs[1] != 2 * anchors or deltas[1] != 4 * anchors or probs[0] != deltas[0] or probs[2:] != deltas[2:]:
            raise ctx.error(f"scores {probs} and deltas {deltas} do not match {anchors} anchors per position")
        rows = probs[0] * attrs["post_nms_topn"]
        specs = [((rows, 5), ctx.input_dtypes[0])]
        if ctx.version >= 4:
            specs.append(((rows,), ctx.input_dtypes[0]))
        return specs

    @staticmethod
    def _anchors(attrs):
        """Anchor corners ``[A, 4]`` (x0, y0, x1, y1) around the base box, ratios outer, scales inner."""
        offset = _F32(0 if attrs["tf"] else 1)
        base = attrs["base_size"]
        center = _F32(0.5) * (_F32(base) - offset)
        out = []
        for ratio in attrs["ratio"]:
            rw = np.sqrt(_F32(base * base) / _F32(ratio))
            if not attrs["tf"]:
                rw = _round_half_away(rw)
            rh = rw * _F32(ratio)
            if not attrs["tf"]:
                rh = _round_half_away(rh)
            for scale in attrs["scale"]:
                sw = _F32(0.5) * (rw * _F32(scale) - offset)
                sh = _F32(0.5) * (rh * _F32(scale) - offset)
                box = [center - sw, center - sh, center + sw, center + sh]
                if attrs["tf"]:
                    box = [v - _F32(base) * _F32(0.5) for v in box]
                out.append(box)
        return np.asarray(out, _F32)

    @staticmethod
    def compute(ctx, probs, deltas, info):
        attrs = Proposal._attrs(ctx)
        n, _, h, w = probs.shape
        anchors = Proposal._anchors(attrs)
        a = len(anchors)
        offset = _F32(0 if attrs["tf"] else 1)
        info = np.asarray(info, _F32)
        # TensorFlow boxes come as (y, x): the image height and width swap with them (as OpenVINO's CPU plugin)
        img_h, img_w = (info[1], info[0]) if attrs["tf"] else (info[0], info[1])
        min_h = _F32(attrs["min_size"]) * info[2]
        min_w = _F32(attrs["min_size"]) * (info[3] if info.size > 3 else info[2])
        post = attrs["post_nms_topn"]
        rois = np.zeros((n * post, 5), _F32)
        scores_out = np.zeros(n * post, _F32)
        ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
        shift_x = ((ys if attrs["tf"] else xs) * attrs["feat_stride"]).astype(_F32)[..., None]  # (H, W, 1)
        shift_y = ((xs if attrs["tf"] else ys) * attrs["feat_stride"]).astype(_F32)[..., None]
        for b in range(n):
            score = probs[b, a:].astype(_F32).transpose(1, 2, 0)  # (H, W, A): foreground scores
            d = deltas[b].astype(_F32).reshape(a, 4, h, w).transpose(2, 3, 0, 1)  # (H, W, A, 4)
            x0, y0 = shift_x + anchors[:, 0], shift_y + anchors[:, 1]
            x1, y1 = shift_x + anchors[:, 2], shift_y + anchors[:, 3]
            if attrs["tf"]:
                x0, x1 = np.clip(x0, 0, img_w), np.clip(x1, 0, img_w)
                y0, y1 = np.clip(y0, 0, img_h), np.clip(y1, 0, img_h)
            ww, hh = x1 - x0 + offset, y1 - y0 + offset
            cx, cy = x0 + _F32(0.5) * ww, y0 + _F32(0.5) * hh
            dx = d[..., 0] / _F32(attrs["box_coordinate_scale"])
            dy = d[..., 1] / _F32(attrs["box_coordinate_scale"])
            dw = d[..., 2] / _F32(attrs["box_size_scale"])
            dh = d[..., 3] / _F32(attrs["box_size_scale"])
            pcx, pcy = dx * ww + cx, dy * hh + cy
            pw, ph = np.exp(dw).astype(_F32) * ww, np.exp(dh).astype(_F32) * hh
            x0, y0 = pcx - _F32(0.5) * pw, pcy - _F32(0.5) * ph
            x1, y1 = pcx + _F32(0.5) * pw, pcy + _F32(0.5) * ph
            if attrs["clip_before_nms"]:
                x0, x1 = np.clip(x0, 0, img_w - offset), np.clip(x1, 0, img_w - offset)
                y0, y1 = np.clip(y0, 0, img_h - offset), np.clip(y1, 0, img_h - offset)
            keep = ((x1 - x0 + offset) >= min_w) & ((y1 - y0 + offset) >= min_h)
            boxes = np.stack([x0, y0, x1, y1], axis=-1).reshape(-1, 4).astype(_F32)
            scores = (keep * score).reshape(-1).astype(_F32)
            order = _by_score(scores, np.arange(scores.size))[: min(scores.size, attrs["pre_nms_topn"])]
            kept = Proposal._nms(boxes[order], attrs["nms_thresh"], post, offset)
            chosen = order[kept]
            sel = boxes[chosen]
            if attrs["clip_after_nms"]:
                sel = np.clip(sel, 0, np.array([img_w, img_h, img_w, img_h], _F32))
            if attrs["normalize"]:
                sel = sel / np.array([img_w, img_h, img_w, img_h], _F32)
            rows = slice(b * post, b * post + len(chosen))
            rois[rows, 0] = b
            rois[rows, 1:] = sel
            scores_out[rows] = scores[chosen]
            if len(chosen) < post:
                rois[b * post + len(chosen), 0] = -1
        dtype = ctx.input_dtypes[0]
        if ctx.version >= 4:
            return [rois.astype(dtype, copy=False), scores_out.astype(dtype, copy=False)]
        return rois.astype(dtype, copy=False)

    @staticmethod
    def _nms(boxes, thresh, limit, offset):
        """Indices into ``boxes`` (sorted by score) that survive greedy NMS, at most ``limit``."""
        dead = np.zeros(len(boxes), bool)
        kept = []
        area = (boxes[:, 2] - boxes[:, 0] + offset) * (boxes[:, 3] - boxes[:, 1] + offset)
        for i in range(len(boxes)):
            if dead[i]:
                continue
            kept.append(i)
            if len(kept) == limit:
                break
            rest = boxes[i + 1:]
            bi = boxes[i]
            overlap = (bi[0] <= rest[:, 2]) & (bi[1] <= rest[:, 3]) & (rest[:, 0] <= bi[2]) & (rest[:, 1] <= bi[3])
            iw = np.maximum(_F32(0), np.minimum(bi[2], rest[:, 2]) - np.maximum(bi[0], rest[:, 0]) + offset)
            ih = np.maximum(_F32(0), np.minimum(bi[3], rest[:, 3]) - np.maximum(bi[1], rest[:, 1]) + offset)
            inter = iw * ih
            with np.errstate(invalid="ignore", divide="ignore"):
                iou = np.where(overlap, inter / (area[i] + area[i + 1:] - inter), 0)
            dead[i + 1:] |= iou > thresh
        return np.asarray(kept, np.int64)
