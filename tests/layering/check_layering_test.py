"""The layering checker catches what it exists to catch, on a small tree made here."""

import importlib.util
import json
import os
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "..", "..", "scripts", "check-layering.py")
spec = importlib.util.spec_from_file_location("check_layering", SCRIPT)
layering = importlib.util.module_from_spec(spec)
spec.loader.exec_module(layering)


def component(name, depends=(), shared=(), forbid=()):
    return {"name": name, "target": name, "dirs": [f"src/{name}"],
            "headers": [f"include/monitoring/{name}"], "shared_internal": list(shared),
            "depends": list(depends), "forbid": list(forbid)}


class LayeringTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.root = self.dir.name
        self.components = {c["name"]: c for c in [
            component("low", shared=["src/low/shared.hpp"], forbid=["boost/"]),
            component("high", depends=["low"]),
        ]}
        self.write("include/monitoring/low/api.hpp", "#pragma once\n#include <vector>\n")
        self.write("src/low/shared.hpp", "#pragma once\n")
        self.write("src/low/private.hpp", "#pragma once\n")
        self.write("src/low/low.cpp", '#include "monitoring/low/api.hpp"\n#include "private.hpp"\n')
        self.write("include/monitoring/high/api.hpp", '#include "monitoring/low/api.hpp"\n')
        self.write("src/high/high.cpp", '#include "low/shared.hpp"\n#include "monitoring/high/api.hpp"\n')

    def tearDown(self):
        self.dir.cleanup()

    def write(self, path, text):
        full = os.path.join(self.root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w", encoding="utf-8") as f:
            f.write(text)

    def problems(self):
        return layering.check(self.root, self.components)

    def test_a_clean_tree_passes(self):
        self.assertEqual(self.problems(), [])

    def test_a_lower_component_including_a_higher_one_fails(self):
        self.write("src/low/low.cpp", '#include "monitoring/high/api.hpp"\n')
        [problem] = self.problems()
        self.assertIn("'low' includes \"monitoring/high/api.hpp\" of 'high'", problem)

    def test_a_private_header_of_another_component_fails(self):
        self.write("src/high/high.cpp", '#include "low/private.hpp"\n')
        [problem] = self.problems()
        self.assertIn("a private header of 'low'", problem)

    def test_a_forbidden_system_header_fails(self):
        self.write("include/monitoring/low/api.hpp", "#include <boost/asio/post.hpp>\n")
        [problem] = self.problems()
        self.assertIn("may not include <boost/asio/post.hpp>", problem)

    def test_a_file_outside_every_component_fails(self):
        self.write("src/stray/stray.cpp", "")
        [problem] = self.problems()
        self.assertIn("belongs to no component", problem)

    def test_a_dependency_cycle_fails(self):
        self.components["low"]["depends"] = ["high"]
        [problem] = self.problems()
        self.assertIn("dependency cycle", problem)

    def test_the_manifest_round_trips(self):
        path = os.path.join(self.root, "manifest.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(list(self.components.values()), f)
        self.assertEqual(layering.load(path), self.components)


if __name__ == "__main__":
    unittest.main()
