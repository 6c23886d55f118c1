"""vertebro: computable, cited policies for vertebroplasty, kyphoplasty and sacroplasty."""

__version__ = "0.1.0"
