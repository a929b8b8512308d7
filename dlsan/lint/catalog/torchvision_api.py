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
