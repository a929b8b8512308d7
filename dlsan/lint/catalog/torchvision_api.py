"""torchvision transforms: random (augmentation) or deterministic."""

from __future__ import annotations

_T = "torchvision.transforms."
RANDOM_TRANSFORMS = frozenset(_T + name for name in (
    "RandomCrop", "RandomResizedCrop", "RandomHorizontalFlip", "RandomVerticalFlip", "RandomRotation",
    "RandomAffine", "RandomPerspective", "RandomErasing", "RandomGrayscale", "RandomApply",
    "RandomChoice", "RandomOrder", "RandomInvert", "RandomPosterize", "RandomSolarize",
    "RandomAdjustSharpness", "RandomAutocontrast", "RandomEqualize", "ColorJitter", "GaussianBlur",
    "AutoAugment", "RandAugment", "TrivialAugmentWide", "AugMix", "ElasticTransform",
    "RandomPhotometricDistort", "RandomZoomOut", "RandomIoUCrop", "RandomShortestSize", "ScaleJitter",
))
DETERMINISTIC_TRANSFORMS = frozenset(_T + name for name in (
    "Resize", "CenterCrop", "ToTensor", "PILToTensor", "ToPILImage", "Normalize", "Grayscale", "Pad",
    "Lambda", "Compose", "ConvertImageDtype", "FiveCrop", "TenCrop", "ToImage", "ToDtype",
))


def is_random_transform(qualified: str) -> bool:
    """Also the ``torchvision.transforms.v2`` spelling."""
    return qualified.replace(".v2.", ".") in RANDOM_TRANSFORMS


#: transform pipelines whose first argument is the list of transforms
COMPOSE = frozenset({_T + "Compose", _T + "v2.Compose", "albumentations.Compose", "albumentations.core.composition.Compose"})
#: albumentations transforms that draw random parameters (or fire with probability ``p < 1``)
RANDOM_ALBUMENTATIONS = frozenset("albumentations." + name for name in (
    "HorizontalFlip", "VerticalFlip", "Flip", "RandomRotate90", "Rotate", "ShiftScaleRotate", "Affine",
    "RandomResizedCrop", "RandomCrop", "RandomSizedCrop", "RandomBrightnessContrast", "ColorJitter",
    "HueSaturationValue", "RGBShift", "GaussNoise", "GaussianBlur", "MotionBlur", "CoarseDropout",
    "Cutout", "GridDistortion", "ElasticTransform", "OpticalDistortion", "RandomGamma", "CLAHE",
    "Transpose", "RandomScale", "OneOf", "SomeOf",
))
