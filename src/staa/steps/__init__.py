"""The pipeline's steps: one module per Snakemake rule that does the work, each a function the CLI
(`staa <step>`) and the tests call. A step reads its inputs, runs library code (`staa.data`,
`staa.models`, `staa.generator`, `staa.attacks`, `staa.evaluate`, `staa.timing`, ...) and writes the
files its rule names. Steps import only library modules, never each other (tests/test_structure.py)."""
