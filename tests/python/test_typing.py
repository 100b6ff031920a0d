"""The py.typed marker promises type hints: mypy finds none wrong in the
package, and a user's script gets real types (a History from fit, float32
arrays from predict_logits) and its mistakes reported. Skipped, saying so,
without Debian's mypy (.ci/deps installs it)."""
import subprocess
import sys
import textwrap

import pytest

import bn

pytest.importorskip("mypy", reason="mypy is not installed (Debian: apt-get install mypy)")

PACKAGE_ROOT = str(__import__("pathlib").Path(bn.__file__).parent.parent)


def mypy(tmp_path, *args):
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"),
                             "--no-error-summary", *args], cwd=PACKAGE_ROOT,
                            capture_output=True, text=True, timeout=600)
    return result.returncode, result.stdout + result.stderr


def test_the_package_and_a_users_script_type_check(tmp_path):
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent("""\
        import numpy as np
        import bn

        model = bn.MLP(4, [3], 2, learning_rate=0.01)
        model.learning_rate = 0.1
        history = model.fit(np.zeros((4, 4), np.float32), np.zeros(4, np.int64))
        reveal_type(history)
        reveal_type(history.history)
        reveal_type(model.predict_logits(np.zeros((1, 4))))
        reveal_type(bn.recipes.BN_TRAIN.build(4, 2))
        model.fit(np.zeros((4, 4)), np.zeros(4), epochs="ten")
        """))
    status, output = mypy(tmp_path, "bn", str(script))
    lines = [line.split(": ", 1)[1] for line in output.splitlines() if ": " in line]
    assert lines == [
        'note: Revealed type is "bn.history.History"',
        'note: Revealed type is "builtins.dict[builtins.str, builtins.list[builtins.float]]"',
        'note: Revealed type is "numpy.ndarray[Any, numpy.dtype[numpy.floating[numpy._typing.'
        '_32Bit]]]"',
        'note: Revealed type is "bn.mlp.MLP"',
        'error: Argument "epochs" to "fit" of "MLP" has incompatible type "str"; expected "int"'
        '  [arg-type]',
    ], output
    assert status == 1  # the one error in the user's script, none in the package
