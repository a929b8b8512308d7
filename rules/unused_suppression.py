from __future__ import annotations

from dlsan.lint.rule import Invalid, Rule, Valid
from dlsan.lint.suppressions import UNUSED_SUPPRESSION_CODE, UNUSED_SUPPRESSION_NAME


class UnusedSuppression(Rule):
    """
    ## What it does
    Flags a `# noqa: DLS...` or `# dlsan: ignore[...]` comment that suppresses nothing: the rule
    it names ran on the file and found nothing on that line, or no rule has that code.

    Codes of rules that did not run on the file (not selected, or dropped by `per-file-ignores`)
    are never called unused, nor are other tools' codes (`# noqa: E501`) or a bare `# noqa`, which
    flake8 reads as "everything".  The engine runs this check after every other rule, since only
    then is it known which suppressions were used.

    ## Why is this bad?
    A suppression outlives the finding it was written for: once the code is fixed (or a rule gets
    more precise) the comment stays and silently hides the next real bug on that line.  After a
    gradual adoption with `dlsan check --add-noqa`, this rule shows which of the added comments
    can go as the code is cleaned up.

    ## Example
    ```python
    state = torch.load("ckpt.pt", weights_only=True)  # noqa: DLS602
    ```

    ## Use instead
    ```python
    state = torch.load("ckpt.pt", weights_only=True)
    ```

    ## Fix safety
    Safe: it removes only the unused codes (the whole comment when nothing else is left in it) and
    keeps every other comment on the line, so no finding appears that was not already shown.
    """

    code = UNUSED_SUPPRESSION_CODE
    name = UNUSED_SUPPRESSION_NAME
    message = "a suppression comment that suppresses nothing; remove it so that it cannot hide a future finding"
    fix_applicability = "safe"
    #: the engine does the work (see the docstring); a file without these cannot have a suppression
    requires = ("noqa", "dlsan", "NOQA")

    VALID = [
        Valid("import torch\nstate = torch.load('ckpt.pt', weights_only=True)\n"),
        Valid("import torch\nx = compute()  # noqa: E501\n"),
        Valid("import torch\nx = compute()  # noqa\n"),
        Valid("import torch\nx = compute()  # dlsan: ignore[DLS001]\n"),
        Valid("import torch\n# dlsan: ignore-file[DLS101]\nx = 1\n"),
        Valid("import torch\nmessage = 'write # noqa: DLS999 to silence it'\n"),
        Valid("import torch\nx = compute()  # noqa:E501,W291\n"),
        Valid("import torch\nx = compute()  # NOQA\n"),
        Valid("import torch\n# dlsan checks this file in CI\nx = 1\n"),
        Valid("import torch\n# dlsan: ignore-file\nx = 1\n"),
    ]
    INVALID = [
        Invalid(
            "import torch\nstate = torch.load('ckpt.pt', weights_only=True)  # dlsan: ignore\n",
            line=2,
            fixed="import torch\nstate = torch.load('ckpt.pt', weights_only=True)\n",
        ),
        Invalid(
            "import torch\nx = compute()  # noqa: DLS999\n",
            line=2,
            fixed="import torch\nx = compute()\n",
        ),
        Invalid(
            "import torch\nx = compute()  # noqa: E501, DLS999  # type: ignore\n",
            line=2,
            fixed="import torch\nx = compute()  # noqa: E501  # type: ignore\n",
        ),
        Invalid(
            "import torch\nx = compute()  # dlsan: ignore[DLS998]  # keep this note\n",
            line=2,
            fixed="import torch\nx = compute()  # keep this note\n",
        ),
        Invalid(
            "import torch\n# dlsan: ignore[DLS997]\nx = compute()\n",
            line=2,
            fixed="import torch\nx = compute()\n",
        ),
        Invalid(
            "import torch\nx = compute()  # noqa: DLS9\n",
            line=2,
            fixed="import torch\nx = compute()\n",
        ),
        Invalid(
            "import torch\nx = compute()  # NOQA: DLS999\n",
            line=2,
            fixed="import torch\nx = compute()\n",
        ),
        Invalid(
            "import torch\n\ndef f():\n    y = compute()\t# dlsan: ignore[DLS996]\n    return y\n",
            line=4,
            fixed="import torch\n\ndef f():\n    y = compute()\n    return y\n",
        ),
    ]
