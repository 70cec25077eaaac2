"""check-jsonschema, with the YAML tags an editor is told to accept.

    python check_schema.py --schemafile SCHEMA FILE...   (any check-jsonschema arguments)

A project file tags its executors (`executor: !wasm {...}`); check-jsonschema's
YAML loader knows no custom tags and refuses the file. This registers the
tags the schema declares in `x-yaml-custom-tags` (the list yaml-language-server
takes as `yaml.customTags`: `!wasm mapping`, `!mlflow scalar`, ...) with the
node kinds given, exactly as that editor does, and then runs check-jsonschema's
own command line. A tag not declared, or declared for another node kind, is
still a parse error.
"""

import json
import sys

import check_jsonschema.parsers.yaml as cj_yaml
import ruamel.yaml
from check_jsonschema import main


def declared_tags(argv):
    schema = argv[argv.index("--schemafile") + 1]
    with open(schema, encoding="utf-8") as f:
        return json.load(f).get("x-yaml-custom-tags", [])


def install(tags):
    kinds = {}
    for spec in tags:
        tag, kind = spec.split(" ", 1)
        kinds.setdefault(tag, set()).add(kind)
    original = cj_yaml.construct_yaml_implementation

    def construct(typ="safe", pure=False):
        impl = original(typ=typ, pure=pure)
        cls = impl.Constructor

        def make(tag, allowed):
            def build(constructor, node):
                if isinstance(node, ruamel.yaml.nodes.MappingNode) and "mapping" in allowed:
                    return constructor.construct_mapping(node, deep=True)
                if isinstance(node, ruamel.yaml.nodes.ScalarNode) and "scalar" in allowed:
                    value = constructor.construct_scalar(node)
                    return None if value == "" else value
                if isinstance(node, ruamel.yaml.nodes.SequenceNode) and "sequence" in allowed:
                    return constructor.construct_sequence(node, deep=True)
                raise ruamel.yaml.constructor.ConstructorError(
                    None, None, f"the tag {tag} does not take a {node.id}", node.start_mark
                )

            return build

        for tag, allowed in kinds.items():
            cls.add_constructor(tag, make(tag, allowed))
        return impl

    cj_yaml.construct_yaml_implementation = construct


if __name__ == "__main__":
    install(declared_tags(sys.argv[1:]))
    main(args=sys.argv[1:])
