"""Layer-stack builders that reproduce the official ``nn.Sequential`` index layout (so that the
checkpoint keys ``conv.0``, ``deconv.1`` (BatchNorm) ... map), and the official head init."""

from __future__ import annotations

from torch import nn

__all__ = ["conv1x1_stack", "deconv_stack", "linear_stack", "init_head_weights"]


def conv1x1_stack(dims: list[int], bn_relu_last: bool) -> nn.Sequential:
    """1x1 Conv2d layers ``dims[0] -> dims[1] -> ...``, each followed by BatchNorm + ReLU except
    (unless ``bn_relu_last``) the last one."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Conv2d(dims[i], dims[i + 1], kernel_size=1))
        if i < len(dims) - 2 or bn_relu_last:
            layers += [nn.BatchNorm2d(dims[i + 1]), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def deconv_stack(dims: list[int]) -> nn.Sequential:
    """ConvTranspose2d (k4, s2, p1, no bias: doubles H and W) + BatchNorm + ReLU per step."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers += [
            nn.ConvTranspose2d(
                dims[i], dims[i + 1], kernel_size=4, stride=2, padding=1, bias=False
            ),
            nn.BatchNorm2d(dims[i + 1]),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


def linear_stack(dims: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i < len(dims) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def init_head_weights(module: nn.Module) -> None:
    """The official SMPLer-X head initialisation, applied to every sub-module: conv and
    transposed-conv weights N(0, 0.001) (conv biases 0), Linear N(0, 0.01) (bias 0),
    BatchNorm weight 1 / bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None and isinstance(m, nn.Conv2d):
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)
