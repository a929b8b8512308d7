"""Shared program analysis for rules, computed lazily and at most once per file.

* :mod:`.nodes` - cached subtree queries (the calls or nodes below a node, a parent map, a node's
  ancestors) and the parts of a call: method name, receiver, callee through ``functools.partial``.
* :mod:`.functions` - the file's functions, classes and methods, their parameters, whether a class
  is an ``nn.Module``; following a call to a function defined in the same file.
* :mod:`.callers` - who calls a same-file function, and from which function and class.
* :mod:`.loops` - the loops around a node, and which loops and functions train (call
  ``backward()`` or an optimizer's ``step()``, directly or through a same-file function).
* :mod:`.grad_mode` - whether code runs with gradients disabled (``no_grad``/``inference_mode``
  blocks and decorators) or in an evaluation context.
* :mod:`.graph` - whether a value carries an autograd graph (loss / model output / sanitised by
  ``.item()``...), and what ``.backward()`` is called on.
* :mod:`.iteration` - gradient clipping and the order of one training iteration's calls.
* :mod:`.models` - which calls run a model and which compute a loss.
* :mod:`.modes` - ``.eval()`` / ``.train()`` / training-step events in source order, following
  same-file calls.
* :mod:`.optimizers` - backward / zero_grad / optimizer step / scheduler step events per optimizer,
  in source order, for a loop body or a per-step function.
* :mod:`.activations` - whether an expression ends in softmax, log_softmax or sigmoid (also through
  variables, layers and a same-file model's ``forward``), and which losses it is fed to.
* :mod:`.shape_algebra` - shapes, broadcasting and what shape operations do to a shape (pure:
  no syntax); :mod:`.shape_inference` - what shape an expression has, and the description of
  reductions.
* :mod:`.leakage` - sklearn transformers, manual standardisation, dataset splits, train/test names.
* :mod:`.holdout` - which values come from held-out test data, and which decisions compare them.

Every helper takes the :class:`~dlsan.lint.context.FileContext` first (or works on a node alone)
and caches what it computes as a typed :class:`~dlsan.lint.context.Fact`; none of them walks the
whole file unless a rule actually asks.  What a name holds (a tensor, a module, a loader ...) is
the semantic model's answer (:func:`~dlsan.lint.semantic.values.value_of`).
"""
