"""torch / torch.nn / torch.nn.functional as data, by canonical name (see :mod:`.names`)."""

from __future__ import annotations

from typing import Literal

#: what a loss expects as its prediction argument
ExpectedInput = Literal["logits", "probabilities", "log_probabilities", "values", "any"]
Activation = Literal["softmax", "log_softmax", "sigmoid"]

_F = "torch.nn.functional."
_NN = "torch.nn."

# -- losses ----------------------------------------------------------------------------------------

#: functional losses -> the input they expect
FUNCTIONAL_LOSSES: dict[str, ExpectedInput] = {
    _F + "cross_entropy": "logits",
    _F + "binary_cross_entropy": "probabilities",
    _F + "binary_cross_entropy_with_logits": "logits",
    _F + "nll_loss": "log_probabilities",
    _F + "kl_div": "log_probabilities",
    _F + "mse_loss": "values", _F + "l1_loss": "values", _F + "smooth_l1_loss": "values",
    _F + "huber_loss": "values",
    **{_F + name: "any" for name in (
        "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss", "ctc_loss",
        "hinge_embedding_loss", "margin_ranking_loss", "multi_margin_loss", "multilabel_margin_loss",
        "multilabel_soft_margin_loss", "soft_margin_loss", "triplet_margin_loss",
        "triplet_margin_with_distance_loss")},
}
#: loss modules -> the input they expect
LOSS_MODULES: dict[str, ExpectedInput] = {
    _NN + "CrossEntropyLoss": "logits",
    _NN + "BCELoss": "probabilities",
    _NN + "BCEWithLogitsLoss": "logits",
    _NN + "NLLLoss": "log_probabilities",
    _NN + "KLDivLoss": "log_probabilities",
    _NN + "MSELoss": "values", _NN + "L1Loss": "values", _NN + "SmoothL1Loss": "values",
    _NN + "HuberLoss": "values",
    **{_NN + name: "any" for name in (
        "PoissonNLLLoss", "GaussianNLLLoss", "CosineEmbeddingLoss", "CTCLoss", "HingeEmbeddingLoss",
        "MarginRankingLoss", "MultiMarginLoss", "MultiLabelMarginLoss", "MultiLabelSoftMarginLoss",
        "SoftMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss")},
}
#: the logits form of each probability loss
WITH_LOGITS = {_F + "binary_cross_entropy": _F + "binary_cross_entropy_with_logits",
               _NN + "BCELoss": _NN + "BCEWithLogitsLoss"}
#: losses whose two operands must have the same shape (a broadcast is silently wrong)
SHAPE_SENSITIVE_FUNCTIONAL_LOSSES = frozenset(_F + name for name in (
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits"))
SHAPE_SENSITIVE_LOSS_MODULES = frozenset(_NN + name for name in (
    "MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss", "BCELoss", "BCEWithLogitsLoss"))

# -- activations -----------------------------------------------------------------------------------

ACTIVATION_FUNCTIONS: dict[str, Activation] = {
    "torch.softmax": "softmax", _F + "softmax": "softmax",
    "torch.log_softmax": "log_softmax", _F + "log_softmax": "log_softmax",
    "torch.sigmoid": "sigmoid",
}
ACTIVATION_METHODS: dict[str, Activation] = {"softmax": "softmax", "log_softmax": "log_softmax", "sigmoid": "sigmoid"}
ACTIVATION_MODULES: dict[str, Activation] = {
    _NN + "Softmax": "softmax", _NN + "LogSoftmax": "log_softmax", _NN + "Sigmoid": "sigmoid",
}

# -- modules ---------------------------------------------------------------------------------------

CONTAINERS = frozenset({_NN + "Sequential", _NN + "ModuleList", _NN + "ModuleDict"})
SEQUENTIAL = _NN + "Sequential"
#: layers whose output depends on train/eval mode, whatever their arguments
MODE_DEPENDENT_LAYERS = frozenset(_NN + name for name in (
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LazyBatchNorm1d", "LazyBatchNorm2d",
    "LazyBatchNorm3d", "SyncBatchNorm", "RReLU",
    "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer",
))
#: methods ``nn.Module`` itself defines: ``self.register_buffer(...)`` in a class runs no sub-module
MODULE_OWN_METHODS = frozenset({
    "register_buffer", "register_parameter", "register_module", "add_module", "apply", "parameters",
    "named_parameters", "buffers", "named_buffers", "children", "named_children", "modules",
    "named_modules", "state_dict", "load_state_dict", "to", "to_empty", "cpu", "cuda", "float", "double",
    "half", "bfloat16", "type", "train", "eval", "requires_grad_", "zero_grad", "share_memory",
    "get_submodule", "get_parameter", "get_buffer", "extra_repr", "register_forward_hook",
    "register_forward_pre_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_backward_hook", "register_state_dict_pre_hook", "register_load_state_dict_post_hook",
})
#: the dropout layers (a subset of MODE_DEPENDENT_LAYERS): with ``p=0`` they do nothing in either mode
DROPOUT_LAYERS = frozenset(_NN + name for name in (
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
))
#: layers that depend on the mode only through an argument: (keyword, position, default)
MODE_DEPENDENT_BY_ARGUMENT: dict[str, tuple[str, int | None, object]] = {
    _NN + "RNN": ("dropout", None, 0), _NN + "LSTM": ("dropout", None, 0), _NN + "GRU": ("dropout", None, 0),
    _NN + "MultiheadAttention": ("dropout", 2, 0),
    _NN + "InstanceNorm1d": ("track_running_stats", 4, False),
    _NN + "InstanceNorm2d": ("track_running_stats", 4, False),
    _NN + "InstanceNorm3d": ("track_running_stats", 4, False),
}
#: layers whose output never depends on the mode
MODE_FREE_LAYERS = frozenset(_NN + name for name in (
    "Linear", "LazyLinear", "Bilinear", "Identity", "Flatten", "Unflatten",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "LazyConv1d", "LazyConv2d", "LazyConv3d",
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish", "Sigmoid",
    "Tanh", "Softmax", "LogSoftmax", "Softmin", "Softplus", "Softsign", "Hardtanh", "Hardswish",
    "Hardsigmoid", "Tanhshrink", "Threshold", "LogSigmoid", "GLU", "Softmax2d",
    "LayerNorm", "GroupNorm", "RMSNorm", "LocalResponseNorm", "Embedding", "EmbeddingBag",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "LPPool1d", "LPPool2d", "PixelShuffle",
    "PixelUnshuffle", "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "ZeroPad2d",
    "ConstantPad1d", "ConstantPad2d", "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d",
    "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "CosineSimilarity", "PairwiseDistance",
    "RNNCell", "LSTMCell", "GRUCell", "ChannelShuffle", "Fold", "Unfold",
))
#: functional forms that depend on the mode (through ``training=``)
FUNCTIONAL_MODE_DEPENDENT = frozenset(_F + name for name in (
    "dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout",
    "batch_norm"))
#: model factories whose models (practically all) contain batch-norm or dropout
MODE_DEPENDENT_FACTORIES = ("torchvision.models.", "timm.create_model", "transformers.")
#: calls that load a whole scripted module
SCRIPT_LOADERS = frozenset({"torch.jit.load"})
#: module wrappers: the wrapped module (first argument) decides what the wrapper contains
WRAPPERS = frozenset({"torch.nn.parallel.DistributedDataParallel", _NN + "DataParallel",
                      "torch.distributed.fsdp.FullyShardedDataParallel", "torch.compile",
                      "torch.jit.script", "torch.jit.trace"})

# -- methods ---------------------------------------------------------------------------------------

#: methods that return the module or tensor they are called on (same object, same contents)
SELF_RETURNING = frozenset({"to", "cuda", "cpu", "eval", "train", "float", "double", "half", "bfloat16",
                            "requires_grad_", "to_empty", "xpu", "mps", "share_memory"})
#: tensor methods whose result carries no autograd graph
GRAPH_FREE_METHODS = frozenset({
    "item", "detach", "tolist", "numpy", "argmax", "argmin", "argsort", "eq", "ne", "lt", "le",
    "gt", "ge", "long", "int", "bool", "byte", "size", "dim", "numel", "nonzero", "isnan", "isinf",
    "isfinite", "all", "any", "equal", "data_ptr", "count_nonzero", "__len__",
})
#: tensor attributes that carry no graph
GRAPH_FREE_ATTRIBUTES = frozenset({"data", "grad", "shape", "dtype", "device", "ndim", "requires_grad", "is_cuda"})
#: torch functions whose result carries no graph (comparisons, indices, fresh tensors)
GRAPH_FREE_FUNCTIONS = frozenset("torch." + name for name in (
    "argmax", "argmin", "argsort", "eq", "ne", "lt", "le", "gt", "ge", "equal", "isnan", "isinf",
    "isfinite", "numel", "count_nonzero", "no_grad", "tensor", "as_tensor", "from_numpy", "zeros",
    "ones", "empty", "randn", "rand", "randint", "arange", "linspace", "full"))
#: calls returning (values, indices) when given a dim
VALUES_INDICES = frozenset({"max", "min", "topk", "sort", "kthvalue", "mode", "median", "nanmedian", "cummax",
                            "cummin"})
#: methods that modify the tensor in place (besides the ``name_`` convention)
IN_PLACE_METHODS = frozenset({"copy_", "zero_", "fill_", "add_", "sub_", "mul_", "div_", "clamp_",
                              "masked_fill_", "index_add_", "scatter_", "normal_", "uniform_"})


def is_in_place(method: str) -> bool:
    """``x.add_(y)``: PyTorch's trailing-underscore convention (``__iadd__`` excepted)."""
    return method in IN_PLACE_METHODS or (method.endswith("_") and not method.endswith("__"))


# -- tensors ---------------------------------------------------------------------------------------

#: the legacy typed tensor constructors (``torch.FloatTensor(3, 4)`` allocates without initialising)
LEGACY_TENSOR_CLASSES = frozenset({
    "torch.Tensor", "torch.FloatTensor", "torch.DoubleTensor", "torch.HalfTensor", "torch.LongTensor",
    "torch.IntTensor", "torch.ByteTensor", "torch.BoolTensor", "torch.cuda.FloatTensor",
    "torch.cuda.LongTensor",
})
PARAMETER_CLASSES = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter"})
#: classes whose call builds a tensor
TENSOR_CLASSES = LEGACY_TENSOR_CLASSES | PARAMETER_CLASSES
#: module methods that iterate over its parameters -> the position of the parameter in each item
PARAMETER_ITERATORS: dict[str, int | None] = {"parameters": None, "named_parameters": 1}
#: tensor constructors whose positional arguments are the sizes
SIZED_CONSTRUCTORS = frozenset("torch." + n for n in ("randn", "rand", "zeros", "ones", "empty", "randint"))
#: ``torch.<name>_like(t)``: a tensor of ``t``'s shape
LIKE_CONSTRUCTORS = frozenset(f"torch.{n}_like" for n in ("randn", "rand", "zeros", "ones", "empty", "full", "randint"))
#: element-wise functions of one tensor: the result has its shape
POINTWISE_FUNCTIONS = frozenset(
    ["torch." + n for n in ("sigmoid", "tanh", "relu", "exp", "log", "abs", "sqrt", "rsqrt", "neg",
                            "clamp", "clip", "softmax", "log_softmax", "square", "sin", "cos",
                            "log1p", "expm1", "sign", "round", "floor", "ceil", "detach", "reciprocal")]
    + [_F + n for n in ("relu", "sigmoid", "tanh", "gelu", "silu", "elu", "leaky_relu", "softmax",
                        "log_softmax", "dropout", "softplus", "normalize", "layer_norm", "logsigmoid")]
)
#: tensor methods whose result has the receiver's shape (conversions and element-wise maps)
SAME_SHAPE_METHODS = frozenset({
    "float", "double", "half", "bfloat16", "long", "int", "bool", "to", "cuda", "cpu", "detach",
    "clone", "contiguous", "requires_grad_", "type", "type_as", "abs", "exp", "log", "sqrt",
    "rsqrt", "sigmoid", "tanh", "relu", "neg", "clamp", "clamp_min", "clamp_max", "clip", "pow",
    "softmax", "log_softmax", "square", "log1p", "expm1", "sign", "round", "floor", "ceil",
    "exp_", "sigmoid_", "relu_", "clamp_", "masked_fill", "fill_", "zero_", "normal_", "uniform_",
    "nan_to_num", "reciprocal",
})
#: tensor methods for element-wise arithmetic with one other operand (``x.sub(m)``)
ARITHMETIC_METHODS = frozenset({"add", "sub", "mul", "div", "true_divide", "add_", "sub_", "mul_", "div_"})
ARITHMETIC_FUNCTIONS = frozenset("torch." + m for m in ("add", "sub", "mul", "div", "true_divide"))
#: reductions -> (position of ``dim``, position of ``keepdim``) among a method call's positional
#: arguments (a function form takes the tensor first: one position later)
REDUCTIONS: dict[str, tuple[int, int | None]] = {
    **{name: (0, 1) for name in ("sum", "mean", "nansum", "nanmean", "amax", "amin", "logsumexp",
                                 "prod", "all", "any", "argmax", "argmin", "max", "min", "median",
                                 "nanmedian", "mode")},
    "std": (0, None),
    "var": (0, None),
    "norm": (1, 2),
}
#: reductions that return ``(values, indices)`` when given a dim
PAIR_REDUCTIONS = frozenset(REDUCTIONS) & VALUES_INDICES
#: reductions whose ``dim`` and ``keepdim`` come after ``ord`` (``torch.linalg.norm(x, ord, dim)``)
LINALG_NORMS = frozenset({"torch.linalg.norm", "torch.linalg.vector_norm"})
#: reduction methods no array library but torch has (``x.logsumexp(1)`` is a torch tensor)
TORCH_ONLY_REDUCTIONS = frozenset({"logsumexp", "norm", "amax", "amin", "nansum", "nanmean", "nanmedian"})
#: torch functions that return one tensor (``torch.no_grad()``, ``torch.device()``,
#: ``torch.manual_seed()``, ``torch.save()``, ``torch.load()`` ... do not)
TENSOR_FUNCTIONS = SIZED_CONSTRUCTORS | LIKE_CONSTRUCTORS | POINTWISE_FUNCTIONS | ARITHMETIC_FUNCTIONS | frozenset(
    "torch." + n for n in (
        "tensor", "as_tensor", "from_numpy", "full", "arange", "linspace", "logspace", "eye", "randperm",
        "normal", "bernoulli", "multinomial", "poisson", "cat", "concat", "concatenate", "stack", "hstack",
        "vstack", "dstack", "where", "matmul", "mm", "bmm", "einsum", "outer", "dot", "cross", "cdist",
        "masked_fill", "gather", "index_select", "take", "flatten", "reshape", "squeeze", "unsqueeze",
        "transpose", "permute", "t", "flip", "roll", "tril", "triu", "diag", "repeat_interleave",
        "mean", "sum", "prod", "std", "var", "norm", "logsumexp", "cumsum", "cumprod", "argmax",
        "argmin", "amax", "amin", "pow", "erf", "lerp", "minimum", "maximum", "fmod", "remainder",
        "isnan", "isinf", "isfinite", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or",
        "logical_not", "nan_to_num", "count_nonzero", "bucketize", "searchsorted", "clone",
    ))
#: torch functions whose result is whatever they load: unknown
LOADERS = frozenset({"torch.load", "torch.hub.load"})
#: tensor methods that return a tensor (besides in-place ones, which return their receiver)
TENSOR_METHODS = SAME_SHAPE_METHODS | ARITHMETIC_METHODS | (frozenset(REDUCTIONS) - PAIR_REDUCTIONS) | frozenset({
    "view", "view_as", "reshape", "reshape_as", "squeeze", "unsqueeze", "flatten", "permute",
    "transpose", "t", "expand", "expand_as", "repeat", "narrow", "pin_memory", "masked_select",
    "gather", "index_select", "matmul", "mm", "bmm", "eq", "ne", "lt", "le", "gt", "ge", "cumsum",
    "cumprod", "flip", "roll", "tril", "triu", "diag", "new_zeros", "new_ones", "new_empty",
    "new_full", "new_tensor", "abs_", "isnan", "isinf", "logical_not", "byte", "char", "short",
    "argsort", "nonzero", "masked_scatter", "scatter", "index_add", "where", "lerp", "erf",
})
#: attributes of a torch layer that are its parameters (``nn.Linear(...).weight``)
PARAMETER_ATTRIBUTES = frozenset({"weight", "bias"})
#: tensor attributes that are tensors again
TENSOR_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "data", "real", "imag"})


# -- grad mode, optimizers, data -------------------------------------------------------------------

NO_GRAD = frozenset({"torch.no_grad", "torch.inference_mode"})
CLIP_FUNCTIONS = frozenset({"torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_value_",
                            "torch.nn.utils.clip_grad_norm"})
SET_GRAD_ENABLED = frozenset({"torch.set_grad_enabled"})
OPTIMIZER_PREFIX = "torch.optim."
SCHEDULER_PREFIX = "torch.optim.lr_scheduler."
SCALERS = frozenset({"torch.amp.GradScaler"})
ADAM = frozenset({"torch.optim.Adam"})
DISTRIBUTED_OPTIMIZERS = frozenset({"torch.distributed.optim.DistributedOptimizer",
                                    "torch.distributed.optim.optimizer.DistributedOptimizer"})
DIST_AUTOGRAD_PREFIX = "torch.distributed.autograd."
TORCH_LOAD = frozenset({"torch.load"})
DATALOADER = "torch.utils.data.DataLoader"
RANDOM_SPLIT = "torch.utils.data.random_split"
SUBSET = "torch.utils.data.Subset"
#: RPC handles whose ``.forward`` is a remote call by name, never a module's forward
RPC_PROXY_METHODS = frozenset({"remote", "rpc_async", "rpc_sync"})
