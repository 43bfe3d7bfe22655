"""What the samples share: reading images as the Open Model Zoo models take them, labels files, the top-N table.

Images are read with Pillow (``pip install pillow``), the samples' one dependency beyond ie-core.
"""

import numpy as np
from PIL import Image


def read_image(path, width, height, channels=3):
    """The image at ``path`` resized to ``width`` x ``height``, as a uint8 CHW array: BGR for 3
    channels (the order OpenCV gave the original samples and the models expect), grey for 1."""
    image = Image.open(path).convert("RGB" if channels == 3 else "L")
    if image.size != (width, height):
        image = image.resize((width, height), Image.BILINEAR)
    array = np.asarray(image, dtype=np.uint8)
    return array[None] if channels == 1 else array[:, :, ::-1].transpose(2, 0, 1)


def image_size(path):
    """(height, width) of the image at ``path``."""
    with Image.open(path) as image:
        return image.height, image.width


def read_labels(path):
    """The class names of a labels file, one per line, each line's first word (a synset id) dropped."""
    if not path:
        return None
    with open(path) as f:
        return [line.split(" ", 1)[-1].strip() for line in f]


def print_top(batch_probs, images, number_top, labels_map):
    """The classic samples' table of the ``number_top`` classes of each image's probabilities."""
    for i, probs in enumerate(batch_probs):
        probs = np.squeeze(probs)
        top_ind = np.argsort(probs)[-number_top:][::-1]
        print("Image {}\n".format(images[i]))
        print("classid probability")
        print("------- -----------")
        for class_id in top_ind:
            label = labels_map[class_id] if labels_map else str(class_id)
            print("{:^7} {:.7f}".format(label, probs[class_id]))
        print()
