"""bindings/python/pyproject.toml agrees with the library: the same version as
CMakeLists.txt's project VERSION (what bn_version_string reports), the
package and its py.typed marker."""
import pathlib
import re
import tomllib

import bn

BINDING = pathlib.Path(bn.__file__).parent.parent
REPO = BINDING.parent.parent


def pyproject():
    return tomllib.loads((BINDING / "pyproject.toml").read_text())


def test_the_version_is_the_librarys():
    cmake = (REPO / "CMakeLists.txt").read_text()
    project_version = re.search(r"project\(bn\s+VERSION\s+(\d+\.\d+\.\d+)", cmake)[1]
    assert pyproject()["project"]["version"] == project_version == bn.version_string()


def test_the_package_ships_its_type_marker():
    config = pyproject()
    assert config["tool"]["setuptools"]["packages"] == ["bn"]
    assert config["tool"]["setuptools"]["package-data"]["bn"] == ["py.typed"]
    assert (BINDING / "bn" / "py.typed").is_file()
    assert "numpy" in config["project"]["dependencies"]
