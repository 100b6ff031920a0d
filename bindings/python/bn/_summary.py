"""The table :meth:`bn.MLP.summary` prints: one row per stage of the network in
the order data flows through it, its output shape and its trainable
parameters (Keras' ``model.summary()``). Counts come from the shapes of the
tensors the model holds (:meth:`bn.MLP.has`, :meth:`bn.MLP.get`), so their total is the
library's own count (bn_mlp_parameter_count)."""

from __future__ import annotations

from typing import Any, List, NamedTuple

#: A bn.MLP (not imported: bn.mlp imports this module).
Model = Any


class Row(NamedTuple):
    """One stage: its name, the shape it outputs, and its parameters."""

    name: str
    output_shape: tuple
    parameters: int  #: trained ones: weights, biases, gamma, beta
    running_statistics: int  #: running mean and variance (not trained)


def _size(model: Model, layer: int, tensor: str) -> int:
    return model.get(layer, tensor).size if model.has(layer, tensor) else 0


def rows(model: Model) -> List[Row]:
    """The stages of ``model``, input first."""
    widths = (model.inputs, *model.hidden, model.outputs)

    def norm(layer: int, label: str) -> Row:
        width = widths[layer]
        return Row(label, (None, width), _size(model, layer, "gamma") +
                   _size(model, layer, "beta"),
                   _size(model, layer, "running_mean") + _size(model, layer, "running_var"))

    def dense(layer: int, label: str) -> Row:
        bias = "" if model.has(layer, "bias") else " (no bias)"
        return Row(f"{label}{bias}", (None, widths[layer]),
                   _size(model, layer, "weight") + _size(model, layer, "bias"), 0)

    out = [Row("input", (None, model.inputs), 0, 0)]
    if model.input_batchnorm:
        out.append(norm(0, "batchnorm_0 (input)"))
    activation = model.activation.name.lower()
    place = model.batchnorm.name.lower()
    for layer in range(1, len(model.hidden) + 1):
        width = widths[layer]
        stages = [dense(layer, f"dense_{layer}"), Row(f"{activation}_{layer}", (None, width), 0, 0)]
        if place == "before":
            stages.insert(1, norm(layer, f"batchnorm_{layer}"))
        elif place == "after":
            stages.append(norm(layer, f"batchnorm_{layer}"))
        out += stages
    head = len(model.hidden) + 1
    out.append(dense(head, f"dense_{head} (head)"))
    out.append(Row(model.head.name.lower(), (None, model.outputs), 0, 0))
    return out


def text(model: Model) -> str:
    """The summary table as text (no trailing newline)."""
    table = rows(model)
    sizes = " -> ".join(str(s) for s in (model.inputs, *model.hidden, model.outputs))
    place = model.batchnorm.name.lower()
    where = "no BatchNorm" if place == "none" else f"BatchNorm {place} the activation"
    lines = [f"bn.MLP: {sizes}, {where}{', input BatchNorm' if model.input_batchnorm else ''}"]
    name_width = max(len("Layer"), *(len(r.name) for r in table))
    shape_width = max(len("Output shape"), *(len(str(r.output_shape)) for r in table))
    header = f"{'Layer':<{name_width}}  {'Output shape':<{shape_width}}  {'Parameters':>12}"
    rule = "=" * len(header)
    lines += [header, rule]
    lines += [f"{r.name:<{name_width}}  {str(r.output_shape):<{shape_width}}  "
              f"{r.parameters:>12,}" for r in table]
    lines.append(rule)
    lines.append(f"Trainable parameters: {sum(r.parameters for r in table):,}")
    lines.append(f"Running statistics (not trained): "
                 f"{sum(r.running_statistics for r in table):,}")
    return "\n".join(lines)
