"""Shared program analysis for rules, computed lazily and at most once per file.

* :mod:`.functions` - the file's functions, classes and methods; following a call to a function
  defined in the same file.
* :mod:`.nodes` - cached subtree queries (the calls inside a statement, a parent map).
* :mod:`.loops` - loops that train (call ``backward()`` or an optimizer's ``step()``, directly or
  through a same-file function).
* :mod:`.grad_mode` - whether code runs with gradients disabled (``no_grad``/``inference_mode``
  blocks and decorators) or in an evaluation context.
* :mod:`.dataflow` - local def-use flow per function (or module top level): bindings and reads
  in source order, reaching bindings, whether a value carries an autograd graph (loss / model
  output / sanitised by ``.item()``, ``.detach()``...), forward taint.
* :mod:`.models` - which calls run a model and which compute a loss.
* :mod:`.modes` - ``.eval()`` / ``.train()`` / training-step events in source order, following
  same-file calls.
* :mod:`.leakage` - sklearn transformers, manual standardisation, dataset splits, train/test names.

Every helper takes the :class:`~dlsan.lint.context.FileContext` first and caches through
``context.fact``; none of them walks the whole file unless a rule actually asks.
"""
