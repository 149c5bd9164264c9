"""igrlib: gradient descent, its gradient flow, the modified equation and the implicit gradient penalty.

The library behind the book *Why the learning rate should not be too small*.
Each module holds one idea; this file only re-exports them.
"""

from . import plotting, sliders
from .central import CentralFlow, central_flow
from .coursework.checks import check
from .curvature import hessian, power_iteration, sharpness
from .descent import DivergenceWarning, gd
from .diagonal import (
    DiagonalRun,
    balance,
    diagonal_network,
    diagonal_start,
    effective_alpha,
    entropy_interpolator,
    hyperbolic_entropy,
    product,
    sparse_problem,
    train_diagonal,
)
from .explicit_penalties import flooded, grad_norm_loss, sam, sam_gradient
from .flow import FlowError, gradient_flow, modified_field, modified_flow
from .implicit_penalty import grad_norm_sq, modified_loss
from .losses import Loss, d3, himmelblau, hvp, least_squares, quadratic, rosenbrock, two_param
from .mlp import MLP, digits
from .momentum import heavy_ball, heavy_ball_flow, heavy_ball_penalty_lr
from .principal import principal_factor, principal_field, principal_flow_quadratic, principal_series
from .series import bernoulli_coefficients, exact_modified_matrix, riccati_coefficients
from .stochastic import sgd, sgd_epoch_mean, sgd_modified_loss
from .tables import Table
from .training import Run, train

__version__ = "0.2.0"

__all__ = [
    "Loss",
    "quadratic",
    "least_squares",
    "two_param",
    "rosenbrock",
    "himmelblau",
    "hvp",
    "d3",
    "hessian",
    "sharpness",
    "CentralFlow",
    "central_flow",
    "gd",
    "DivergenceWarning",
    "gradient_flow",
    "modified_field",
    "modified_flow",
    "FlowError",
    "grad_norm_sq",
    "modified_loss",
    "bernoulli_coefficients",
    "exact_modified_matrix",
    "riccati_coefficients",
    "heavy_ball",
    "heavy_ball_flow",
    "heavy_ball_penalty_lr",
    "flooded",
    "grad_norm_loss",
    "sam",
    "sam_gradient",
    "principal_factor",
    "principal_field",
    "principal_flow_quadratic",
    "principal_series",
    "sgd",
    "sgd_epoch_mean",
    "sgd_modified_loss",
    "MLP",
    "digits",
    "train",
    "Run",
    "Table",
    "diagonal_network",
    "diagonal_start",
    "product",
    "balance",
    "effective_alpha",
    "hyperbolic_entropy",
    "entropy_interpolator",
    "train_diagonal",
    "DiagonalRun",
    "sparse_problem",
    "power_iteration",
    "check",
    "plotting",
    "sliders",
]
